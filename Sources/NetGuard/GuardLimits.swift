/// Bounds on what one sandbox may make its guard do (R19). One sandbox hitting a limit is
/// refused or slowed; it never takes time or memory from another sandbox's guard (each has
/// its own thread and tables).
public struct GuardLimits: Sendable, Equatable {
    /// Connections open at once; more are refused and recorded.
    public var maxConnections = 2048
    /// Time for a connection to show its ClientHello or request head (slowloris).
    public var headerTimeoutMilliseconds: UInt64 = 10_000
    /// How long a connection that says nothing first is given before it is judged by
    /// address alone (server-speaks-first protocols).
    public var firstByteMilliseconds: UInt64 = 300
    public var connectTimeoutMilliseconds: UInt64 = 10_000
    /// A connection with no bytes either way for this long is closed.
    public var idleTimeoutMilliseconds: UInt64 = 600_000
    /// Largest request head (request line and headers) accepted.
    public var maxHeaderBytes = 32_768
    public var maxHeaders = 128
    /// DNS queries per second (sustained) and burst.
    public var dnsPerSecond: Double = 200
    public var dnsBurst: Double = 1_000
    /// DNS queries waiting for the upstream at once.
    public var dnsInFlight = 512
    public var dnsTimeoutMilliseconds: UInt64 = 5_000
    /// Audit records per second (sustained) and burst; repeated denials are merged first.
    public var recordsPerSecond: Double = 5_000
    public var recordsBurst: Double = 50_000

    public init() {}
}

/// A token bucket: `rate` per second, up to `burst` saved.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: UInt64

    init(rate: Double, burst: Double, now: UInt64) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        last = now
    }

    mutating func take(now: UInt64) -> Bool {
        if now > last {
            tokens = min(burst, tokens + Double(now - last) / 1e9 * rate)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
