/// Carries a non-Sendable value into a @Sendable closure or another thread. Each use says
/// why it is safe (the value is immutable, or only one thread touches it at a time).
public struct UncheckedBox<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
