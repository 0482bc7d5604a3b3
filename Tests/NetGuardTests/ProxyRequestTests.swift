@testable import NetGuard
import Testing

/// What the explicit proxy forwards: origin-form, no proxy headers, and always a Host.
struct ProxyRequestTests {
    func head(_ text: String) -> (HTTPRequestHead, [UInt8])? {
        let bytes = Array(text.utf8)
        guard case .request(let head) = bytes.withUnsafeBytes({ HTTPRequestParser.parse($0, maxHeaderBytes: 32_768, maxHeaders: 100) }) else { return nil }
        return (head, bytes)
    }

    @Test func absoluteFormBecomesOriginFormWithoutProxyHeaders() throws {
        let (request, bytes) = try #require(head("GET http://allowed.test:8080/a/b?q=1 HTTP/1.1\r\nHost: allowed.test:8080\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n"))
        let target = try #require(ProxyRequest.target(request))
        #expect(target.host == "allowed.test" && target.port == 8080 && !target.tunnel)
        let forwarded = String(decoding: ProxyRequest.originForm(request, raw: bytes[...]), as: UTF8.self)
        #expect(forwarded == "GET /a/b?q=1 HTTP/1.1\r\nHost: allowed.test:8080\r\nAccept: */*\r\n\r\n")
    }

    @Test func http10WithoutHostGetsTheJudgedName() throws {
        let (request, bytes) = try #require(head("GET http://allowed.test/ HTTP/1.0\r\n\r\n"))
        let forwarded = String(decoding: ProxyRequest.originForm(request, raw: bytes[...]), as: UTF8.self)
        #expect(forwarded == "GET / HTTP/1.0\r\nHost: allowed.test\r\n\r\n")
    }

    @Test func connectNamesATunnelAndOriginFormNamesNothing() throws {
        let (connect, _) = try #require(head("CONNECT Allowed.Test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n"))
        let tunnel = try #require(ProxyRequest.target(connect))
        #expect(tunnel.host == "allowed.test" && tunnel.port == 443 && tunnel.tunnel)
        let (origin, _) = try #require(head("GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n"))
        #expect(ProxyRequest.target(origin) == nil, "a request to the proxy must name its destination")
    }
}
