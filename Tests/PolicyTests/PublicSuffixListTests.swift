import Foundation
@testable import Policy
import Testing

/// Registered domains by the Public Suffix List: the list's own test cases on a small rule set,
/// and well-known names on Debian's copy of the full list.
struct PublicSuffixListTests {
    let small = PublicSuffixList(text: """
        // comment
        com
        uk
        co.uk
        jp
        *.kawasaki.jp
        !city.kawasaki.jp
        *.ck
        !www.ck
        github.io
        """)

    @Test("the list's algorithm: longest rule, wildcards, exceptions, unlisted TLDs", arguments: [
        ("example.com", "example.com"), ("a.b.example.com", "example.com"), ("com", nil),
        ("example.co.uk", "example.co.uk"), ("www.example.co.uk", "example.co.uk"), ("co.uk", nil),
        ("test.kawasaki.jp", nil), ("a.test.kawasaki.jp", "a.test.kawasaki.jp"), ("city.kawasaki.jp", "city.kawasaki.jp"),
        ("www.city.kawasaki.jp", "city.kawasaki.jp"), ("www.ck", "www.ck"), ("a.www.ck", "www.ck"), ("x.ck", nil),
        ("user.github.io", "user.github.io"), ("a.user.github.io", "user.github.io"),
        ("example.test", "example.test"), ("a.b.example.test", "example.test"), ("EXAMPLE.COM.", "example.com"),
    ] as [(String, String?)])
    func registeredDomains(_ host: String, _ expected: String?) {
        #expect(small.registeredDomain(of: host) == expected, "\(host)")
    }

    @Test("Debian's list: real public suffixes, ICANN and private")
    func debianList() throws {
        let text = try String(contentsOfFile: PublicSuffixList.debianPath, encoding: .utf8)
        let list = PublicSuffixList(text: text)
        #expect(list.count > 5_000)
        #expect(list.registeredDomain(of: "files.pythonhosted.org") == "pythonhosted.org")
        #expect(list.registeredDomain(of: "a.b.bbc.co.uk") == "bbc.co.uk")
        #expect(list.registeredDomain(of: "x.y.s3.amazonaws.com") == "y.s3.amazonaws.com")
        #expect(list.registeredDomain(of: "attacker.github.io") == "attacker.github.io")
        #expect(list.registeredDomain(of: "abc.def.com.br") == "def.com.br")
        #expect(list.registeredDomain(of: "github.io") == nil)
    }
}
