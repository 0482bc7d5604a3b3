import Foundation
@testable import NetGuard
import Testing

/// The sandbox's authority and its leaves, checked by OpenSSL's own verifier in strict mode
/// (the rules Python 3.13's default context applies), and a handshake between the guard's two
/// session kinds over a socket pair.
struct TLSAuthorityTests {
    let directory: String = {
        let path = NSTemporaryDirectory() + "warden-tls-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    func write(_ name: String, _ text: String) -> String {
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func openssl(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (-1, "openssl did not start") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func leafPEM(_ authority: TLSAuthority, _ name: String) throws -> String {
        let leaf = try #require(authority.mintLeaf(for: name, now: Int64(Date().timeIntervalSince1970)))
        defer { CertificateBuilder.free(leaf) }
        return try #require(CertificateBuilder.pem(leaf))
    }

    @Test func aMintedLeafVerifiesStrictlyForItsNameOnly() throws {
        let authority = try TLSAuthority.generate(label: "test-run")
        let ca = write("ca.pem", authority.certificatePEM)
        let leaf = write("leaf.pem", try leafPEM(authority, "pypi.example.org"))
        let ok = openssl(["verify", "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "pypi.example.org", "-CAfile", ca, leaf])
        #expect(ok.status == 0, "\(ok.output)")
        let wrongName = openssl(["verify", "-x509_strict", "-verify_hostname", "evil.example.org", "-CAfile", ca, leaf])
        #expect(wrongName.status != 0, "a leaf names one host: \(wrongName.output)")
        let other = write("other.pem", try TLSAuthority.generate(label: "other").certificatePEM)
        let foreign = openssl(["verify", "-CAfile", other, leaf])
        #expect(foreign.status != 0, "another sandbox's authority does not vouch for it: \(foreign.output)")
    }

    @Test func theAuthorityIsAShortLivedCAForServersOnly() throws {
        let authority = try TLSAuthority.generate(label: "agent-42")
        let text = openssl(["x509", "-in", write("ca.pem", authority.certificatePEM), "-noout", "-text", "-enddate"]).output
        #expect(text.contains("CA:TRUE, pathlen:0"), "\(text)")
        #expect(text.contains("Certificate Sign"))
        #expect(text.contains("Warden sandbox CA agent-42"))
        let lifetime = authority.notAfter - Int64(Date().timeIntervalSince1970)
        #expect(lifetime <= TLSAuthority.defaultLifetime && lifetime > TLSAuthority.defaultLifetime - 60)
        #expect(!authority.certificatePEM.contains("PRIVATE"), "only the certificate is ever exported")
    }

    @Test func leavesAreCachedPerNameAndBounded() throws {
        let authority = try TLSAuthority.generate(label: "cache")
        let contexts = try TLSContexts(inspection: TLSInspection(authority: authority, trustedCAs: []))
        let now = Int64(Date().timeIntervalSince1970)
        let first = try #require(contexts.leaf(for: "a.example", now: now))
        #expect(contexts.leaf(for: "a.example", now: now) == first, "minted once")
        #expect(contexts.leaf(for: "b.example", now: now) != first)
        #expect(contexts.leaf(for: "a.example", now: now + 86_400) != first, "re-minted before it lapses")
        var cache = LeafCertificateCache(capacity: 2)
        for name in ["x", "y", "z"] { cache.insert(try #require(authority.mintLeaf(for: name + ".example", now: now)), for: name, expires: now + 86_400) }
        #expect(cache.certificate(for: "x", now: now) == nil, "the oldest went first")
        #expect(cache.certificate(for: "z", now: now) != nil)
    }

    /// A non-blocking socket pair: the two ends of one connection.
    func pair() -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
        return (fds[0], fds[1])
    }

    /// Runs both handshakes until each is done or one fails (bounded).
    func shake(_ client: TLSSession, _ server: TLSSession) -> (TLSSession.Step, TLSSession.Step) {
        var clientStep = TLSSession.Step.more, serverStep = TLSSession.Step.more
        for _ in 0..<100 where clientStep == .more || serverStep == .more {
            if clientStep == .more { clientStep = client.handshake() }
            if serverStep == .more { serverStep = server.handshake() }
        }
        return (clientStep, serverStep)
    }

    @Test func theGuardsTwoSessionsShakeHandsAndAgreeOnHTTP11() throws {
        let authority = try TLSAuthority.generate(label: "pair")
        let ca = write("ca.pem", authority.certificatePEM)
        let contexts = try TLSContexts(inspection: TLSInspection(authority: authority, trustedCAs: [ca]))
        let (near, far) = pair()
        defer { close(near); close(far) }
        let server = try #require(contexts.clientSession(serverName: "svc.example", now: Int64(Date().timeIntervalSince1970), fd: far, clientHello: nil))
        let client = try contexts.upstreamSession(serverName: "svc.example", offerHTTP11: true, fd: near).get()
        let (clientStep, serverStep) = shake(client, server)
        #expect(clientStep == .done && serverStep == .done, "\(clientStep) \(serverStep)")
        #expect(client.alpn == "http/1.1" && server.alpn == "http/1.1")
        #expect(client.verifyFailure == nil)
        let request = Array("GET / HTTP/1.1\r\nHost: svc.example\r\n\r\n".utf8)
        #expect(request.withUnsafeBytes { client.write($0) } == request.count)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 1)
        defer { buffer.deallocate() }
        guard case .bytes(let n) = server.read(into: buffer) else {
            Issue.record("the server session read nothing")
            return
        }
        #expect(Array(buffer[0..<n]) == request)
    }

    @Test func theClientHelloAlreadyReadIsHandedOverFirst() throws {
        let authority = try TLSAuthority.generate(label: "prefix")
        let ca = write("ca.pem", authority.certificatePEM)
        let contexts = try TLSContexts(inspection: TLSInspection(authority: authority, trustedCAs: [ca]))
        let (near, far) = pair()
        defer { close(near); close(far) }
        let client = try contexts.upstreamSession(serverName: "svc.example", offerHTTP11: true, fd: near).get()
        #expect(client.handshake() == .more)
        // The guard's peek: the ClientHello is read off the socket before the session exists.
        var hello = [UInt8](repeating: 0, count: 16_384)
        let n = hello.withUnsafeMutableBytes { recv(far, $0.baseAddress, $0.count, 0) }
        #expect(n > 0)
        let server = try #require(contexts.clientSession(serverName: "svc.example", now: Int64(Date().timeIntervalSince1970), fd: far,
                                                         clientHello: Array(hello[0..<max(0, n)])))
        let (clientStep, serverStep) = shake(client, server)
        #expect(clientStep == .done && serverStep == .done, "\(clientStep) \(serverStep)")
    }

    @Test func anUpstreamNotVouchedForFailsVerification() throws {
        let authority = try TLSAuthority.generate(label: "one")
        let stranger = try TLSAuthority.generate(label: "two")
        // The guard's upstream side trusts only the system store: a leaf of a sandbox CA fails.
        let contexts = try TLSContexts(inspection: TLSInspection(authority: authority, trustedCAs: []))
        let strangerContexts = try TLSContexts(inspection: TLSInspection(authority: stranger, trustedCAs: []))
        let (near, far) = pair()
        defer { close(near); close(far) }
        let server = try #require(strangerContexts.clientSession(serverName: "svc.example", now: Int64(Date().timeIntervalSince1970), fd: far, clientHello: nil))
        let client = try contexts.upstreamSession(serverName: "svc.example", offerHTTP11: true, fd: near).get()
        let (clientStep, _) = shake(client, server)
        guard case .failed = clientStep else {
            Issue.record("the handshake did not fail: \(clientStep)")
            return
        }
        #expect(client.verifyFailure != nil)
    }

    @Test func aTrustedCAThatCannotBeLoadedStopsTheGuard() throws {
        let authority = try TLSAuthority.generate(label: "missing")
        #expect(throws: GuardError.self) { try TLSContexts(inspection: TLSInspection(authority: authority, trustedCAs: [directory + "/absent.pem"])) }
    }
}
