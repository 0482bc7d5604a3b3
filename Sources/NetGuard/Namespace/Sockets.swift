import CWardenShim
import Glibc
import WardenSystem

/// Socket calls the guard makes, each checked and named (SystemError keeps errno and step).
enum Sockets {
    static let nonBlocking = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)

    /// A listening or bound socket on the IPv6 wildcard that also takes IPv4 (v6only off).
    static func dualStack(type: Int32, port: UInt16, backlog: Int32 = 4096) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(try check("socket(AF_INET6)") { socket(AF_INET6, type | nonBlocking, 0) })
        try setInt(fd.raw, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
        try setInt(fd.raw, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0, "IPV6_V6ONLY")
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        try check("bind([::]:\(port))") {
            withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.raw, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        if type == Int32(SOCK_STREAM.rawValue) { try check("listen(\(port))") { listen(fd.raw, backlog) } }
        return fd
    }

    /// A socket bound to one address (the resolver's UDP sockets: replies must leave from the
    /// address the redirect rewrote the query to, or conntrack cannot match them).
    static func bound(family: Int32, type: Int32, address: String, port: UInt16) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(try check("socket") { socket(family, type | nonBlocking, 0) })
        try setInt(fd.raw, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
        guard let parsed = SocketAddress.parse(address, defaultPort: port) else { throw SystemError(errno: EINVAL, step: "bind(\(address))") }
        var (storage, length) = parsed.storage
        try check("bind(\(parsed))") {
            withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.raw, $0, length) } }
        }
        return fd
    }

    /// A TCP listener on one address (the explicit proxy's, on loopback).
    static func listening(family: Int32, address: String, port: UInt16, backlog: Int32 = 1024) throws(SystemError) -> FileDescriptor {
        let fd = try bound(family: family, type: Int32(SOCK_STREAM.rawValue), address: address, port: port)
        try check("listen(\(address):\(port))") { listen(fd.raw, backlog) }
        return fd
    }

    static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ step: String) throws(SystemError) {
        var value = value
        try check("setsockopt(\(step))") { setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// The address the sandbox's program dialled before nftables redirected it (SO_ORIGINAL_DST,
    /// IP6T_SO_ORIGINAL_DST): nil when the connection was not redirected (made to the guard's
    /// port directly).
    static func originalDestination(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let soOriginalDst: Int32 = 80
        if getsockopt(fd, Int32(IPPROTO_IP), soOriginalDst, &storage, &length) == 0, let address = SocketAddress(storage) { return address }
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        if getsockopt(fd, Int32(IPPROTO_IPV6), soOriginalDst, &storage, &length) == 0, let address = SocketAddress(storage) { return address }
        return nil
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return rc == 0 ? SocketAddress(storage) : nil
    }

    /// Starts a non-blocking connect; true when already connected.
    static func connect(_ destination: SocketAddress) throws(SystemError) -> (FileDescriptor, Bool) {
        let fd = FileDescriptor(try check("socket") { socket(destination.family, Int32(SOCK_STREAM.rawValue) | nonBlocking, 0) })
        var (storage, length) = destination.storage
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd.raw, $0, length) } }
        if rc == 0 { return (fd, true) }
        guard errno == EINPROGRESS else { throw SystemError.current("connect(\(destination))") }
        return (fd, false)
    }

    /// The pending error of a non-blocking connect (0: connected).
    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return errno }
        return value
    }

    /// Closes with a reset (SO_LINGER 0): what a refused TLS or opaque connection gets.
    static func reset(_ fd: FileDescriptor) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd.raw, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        fd.close()
    }

    /// The inode of the socket's network namespace (R21).
    static func namespaceInode(_ fd: Int32) throws(SystemError) -> UInt64 {
        var inode: UInt64 = 0
        try check("ioctl(SIOCGSKNS)") { wd_socket_netns_inode(fd, &inode) }
        return inode
    }
}
