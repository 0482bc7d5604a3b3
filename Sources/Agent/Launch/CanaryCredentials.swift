import NetGuard
import Policy
import Sandbox
import Store

/// Fake credentials planted in each sandbox where agents and tools look for real ones (R: #7).
/// Each sandbox gets its own random set; any of them leaving the sandbox — as it is or base64,
/// hex or percent-encoded — is a critical flag, because nothing legitimate ever reads them. The
/// set is written to the audit log when the guard starts, so a value found elsewhere (a paste
/// site, a server log) can be traced back to the run that leaked it. The decoy hosts in
/// ~/.netrc are not real destinations, so no tool sends them on its own.
public struct CanaryCredentials: Sendable {
    public struct Canary: Sendable {
        /// Where it is and what it is: "~/.aws/credentials aws_secret_access_key".
        public var label: String
        public var value: String
    }

    public let canaries: [Canary]
    public let files: [GeneratedFile]

    public static func generate() -> CanaryCredentials {
        let keyID = "AKIA" + random(16, from: upperBase32)
        let secretKey = random(40, from: base64Alphabet)
        let netrcPassword = random(32, from: alphanumeric)
        let envToken = "sk-proj-" + random(48, from: alphanumeric)
        let databasePassword = random(24, from: alphanumeric)
        let githubToken = "gho_" + random(36, from: alphanumeric)
        let home = GeneratedEtc.agentHome
        let canaries = [
            Canary(label: "~/.aws/credentials aws_access_key_id", value: keyID),
            Canary(label: "~/.aws/credentials aws_secret_access_key", value: secretKey),
            Canary(label: "~/.netrc password", value: netrcPassword),
            Canary(label: "~/.env OPENAI_API_KEY", value: envToken),
            Canary(label: "~/.env DATABASE_PASSWORD", value: databasePassword),
            Canary(label: "~/.config/gh/hosts.yml oauth_token", value: githubToken),
        ]
        let files = [
            file(home + "/.aws/credentials", "[default]\naws_access_key_id = \(keyID)\naws_secret_access_key = \(secretKey)\nregion = us-east-1\n"),
            file(home + "/.netrc", "machine artifacts.build.internal\n  login deploy\n  password \(netrcPassword)\n"),
            file(home + "/.env", "OPENAI_API_KEY=\(envToken)\nDATABASE_URL=postgres://app:\(databasePassword)@db.build.internal:5432/app\n"),
            file(home + "/.config/gh/hosts.yml", "github.com:\n    oauth_token: \(githubToken)\n    user: ci-bot\n    git_protocol: https\n"),
        ]
        return CanaryCredentials(canaries: canaries, files: files)
    }

    /// The values as detection looks for them (fingerprints keyed with `key`).
    public func planted(key: AuditKey? = nil) -> [PlantedValue] {
        canaries.map { PlantedValue(origin: .canary, label: $0.label, value: $0.value, fingerprint: GuardDetection.fingerprint($0.value, key: key)) }
    }

    /// What the audit log keeps of the set: every canary's place and value (they are fake, and
    /// their values are what a security team searches for when a leak turns up elsewhere).
    public var auditText: String {
        canaries.map { "\($0.label)=\($0.value)" }.joined(separator: "; ")
    }

    private static func file(_ path: String, _ text: String) -> GeneratedFile {
        GeneratedFile(path: path, contents: Array(text.utf8), mode: 0o600, ownedByWorkload: true)
    }

    private static let upperBase32 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    private static let alphanumeric = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

    private static func random(_ count: Int, from alphabet: [Character]) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
