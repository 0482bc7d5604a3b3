/// One rule firing: what the audit record of the flag says. `evidence` never holds a secret's
/// value — for credentials it names their kind and a fingerprint, for data its shape.
public struct DetectionFinding: Sendable, Equatable {
    public var rule: DetectionRule
    public var severity: DetectionSeverity
    public var reason: String
    public var evidence: String

    public init(_ rule: DetectionRule, severity: DetectionSeverity? = nil, _ reason: String, evidence: String = "") {
        self.rule = rule
        self.severity = severity ?? rule.severity
        self.reason = reason
        self.evidence = evidence
    }
}
