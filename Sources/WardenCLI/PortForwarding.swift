import Glibc
import Synchronization
import WardenSystem

/// A TCP listener on 127.0.0.1 only: a forwarded port is the caller's alone, never the network's.
enum LoopbackListener {
    static func open(port: UInt16) throws(SystemError) -> (FileDescriptor, UInt16) {
        let fd = FileDescriptor(try check("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) })
        var one: Int32 = 1
        setsockopt(fd.raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        try check("bind(127.0.0.1:\(port))") {
            withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        try check("listen") { listen(fd.raw, 64) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try check("getsockname") {
            withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd.raw, $0, &length) } }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}
