import Glibc
import Policy
import Store
import WardenSystem

/// A stream as the policy lets it run: a collector must be an allowed host, and is verified
/// against the system's CAs plus the policy's trusted ones (`network.tlsTrustedCAs`).
public enum AuditStreamSetup {
    public static func make(home: String, target: AuditStreamTarget, format: AuditStreamFormat) throws -> AuditStream {
        guard case .collector = target else { return AuditStream(home: home, target: target, format: format) }
        let policy: OrgPolicy
        do { policy = try PolicyService(home: home, callerUID: 0).current().policy } catch {
            throw SetupError(message: "the policy cannot be read to check the collector: \(error.message)")
        }
        do { try target.checkAllowed(by: policy) } catch { throw SetupError(message: error.message) }
        var bundle: String?
        if !policy.network.tls.trustedCAs.isEmpty {
            var text = (try? Files.readText("/etc/ssl/certs/ca-certificates.crt", limit: 16 << 20)) ?? ""
            for path in policy.network.tls.trustedCAs {
                do { text += "\n" + (try Files.readText(path, limit: 1 << 20)) } catch {
                    throw SetupError(message: "the trusted CA \(path) (network.tls.trustedCAs) cannot be read: \(error.description)")
                }
            }
            let path = home + "/audit-streams/ca-bundle.pem"
            do {
                try Files.makeDirectories(home + "/audit-streams", mode: 0o700)
                // Read by warden-notify, which runs as nobody: public certificates only.
                try Files.writeAtomically(path, Array(text.utf8), mode: 0o644)
                chmod(home + "/audit-streams", 0o711)
            } catch {
                throw SetupError(message: "the collector's CA bundle cannot be written: \(error.description)")
            }
            bundle = path
        }
        return AuditStream(home: home, target: target, format: format, caBundle: bundle)
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
