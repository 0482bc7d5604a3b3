import Glibc
import Policy

/// This machine's own addresses (every interface of the host's network namespace), which a
/// sandbox may never reach whatever the rules say (R20): its services listen there.
enum HostAddresses {
    static func current() -> Set<IPAddress> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: Set<IPAddress> = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ifa_addr {
                var storage = sockaddr_storage()
                let family = Int32(raw.pointee.sa_family)
                let size = family == AF_INET ? MemoryLayout<sockaddr_in>.size : (family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : 0)
                if size > 0 {
                    withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: size)) }
                    if let address = SocketAddress(storage) { addresses.insert(address.address.canonical) }
                }
            }
            cursor = entry.pointee.ifa_next
        }
        return addresses
    }
}
