import Glibc
import Policy

/// An IPv4 or IPv6 socket address as the guard handles it: the policy's `IPAddress` and a
/// port, convertible to and from `sockaddr_storage`.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    /// nil for families other than AF_INET and AF_INET6. A v4-mapped IPv6 address is kept as
    /// written; the policy canonicalises it.
    public init?(_ storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let v4 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            address = .v4(UInt32(bigEndian: v4.sin_addr.s_addr))
            port = UInt16(bigEndian: v4.sin_port)
        case AF_INET6:
            let v6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let bytes = withUnsafeBytes(of: v6.sin6_addr) { Array($0) }
            address = Self.v6(bytes)
            port = UInt16(bigEndian: v6.sin6_port)
        default:
            return nil
        }
    }

    static func v6(_ bytes: [UInt8]) -> IPAddress {
        var high: UInt64 = 0, low: UInt64 = 0
        for i in 0..<8 { high = high << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { low = low << 8 | UInt64(bytes[i]) }
        return .v6(high: high, low: low)
    }

    /// Raw address bytes (4 or 16).
    static func bytes(of address: IPAddress) -> [UInt8] {
        switch address {
        case .v4(let value): return (0..<4).map { UInt8(truncatingIfNeeded: value >> UInt32(24 - 8 * $0)) }
        case .v6(let high, let low):
            return (0..<8).map { UInt8(truncatingIfNeeded: high >> UInt64(56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> UInt64(56 - 8 * $0)) }
        }
    }

    public static func fromBytes(_ bytes: [UInt8]) -> IPAddress? {
        if bytes.count == 4 { return .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) }) }
        if bytes.count == 16 { return v6(bytes) }
        return nil
    }

    public var family: Int32 {
        if case .v4 = address { return AF_INET }
        return AF_INET6
    }

    /// The address as `sockaddr_storage` and its length.
    public var storage: (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        switch address {
        case .v4(let value):
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            v4.sin_addr.s_addr = value.bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v4, as: sockaddr_in.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        case .v6:
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            let bytes = Self.bytes(of: address)
            withUnsafeMutableBytes(of: &v6.sin6_addr) { raw in for i in 0..<16 { raw[i] = bytes[i] } }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: v6, as: sockaddr_in6.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
    }

    public var description: String {
        if case .v6 = address { return "[\(address)]:\(port)" }
        return "\(address):\(port)"
    }

    /// Parses `ADDRESS`, `ADDRESS:PORT` or `[V6]:PORT`.
    public static func parse(_ text: String, defaultPort: UInt16) -> SocketAddress? {
        IPEndpoint.parse(text, defaultPort: defaultPort).map { SocketAddress($0.address, $0.port) }
    }
}
