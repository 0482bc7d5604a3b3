import Testing

@testable import NetGuard
import Store

@Suite("Query redaction")
struct QueryRedactionTests {
    @Test(arguments: [
        ("/a?x=1&y=secret&z", "/a?x=…&y=…&z"),
        ("/a?token=abc#frag", "/a?token=…"),
        ("/a#frag?x=1", "/a"),
        ("/plain/path", "/plain/path"),
        ("/a?", "/a?"),
        ("/a?=v", "/a?=…"),
        ("/a?x==y&&k=", "/a?x=…&&k=…"),
        ("/a?q=a%26b%3Dc", "/a?q=…"),
        ("*", "*"),
        ("example.org:443", "example.org:443"),
        ("/s?k=caf\u{e9}", "/s?k=…"),
    ])
    func redacts(path: String, expected: String) {
        #expect(QueryRedaction.path(path) == expected)
    }

    @Test func neverKeepsAValue() {
        let redacted = QueryRedaction.path("/login?user=alice&password=hunter2&otp=123456")
        #expect(!redacted.contains("alice") && !redacted.contains("hunter2") && !redacted.contains("123456"))
        #expect(redacted == "/login?user=…&password=…&otp=…")
    }
}
