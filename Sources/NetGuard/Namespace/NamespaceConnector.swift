import CWardenShim
import Glibc
import WardenSystem

/// Connections into a sandbox's own loopback, for `warden agent ports` (a port the environment
/// declares, forwarded to the developer's loopback). The socket is made by a thread that
/// enters only the sandbox's network namespace and then ends; no process joins the sandbox
/// (R11), and the connected socket is checked to be in that namespace before it is used (R21).
public enum NamespaceConnector {
    public static let connectTimeoutMilliseconds: Int32 = 5_000

    /// A TCP connection to 127.0.0.1:`port` inside the network namespace `namespace` (a
    /// descriptor of /proc/PID/ns/net).
    public static func connectLoopback(namespace: FileDescriptor, port: UInt16) throws(GuardError) -> FileDescriptor {
        let namespaceRaw = namespace.raw
        let work = BackgroundWork.onOwnThread { () -> Result<UncheckedBox<FileDescriptor>, GuardError> in
            Result { () throws(GuardError) in UncheckedBox(try connect(namespaceRaw, port: port)) }
        }
        guard let work else { throw GuardError(.setupFailed, "ports: no thread to enter the sandbox's network namespace") }
        return try work.wait().get().value
    }

    private static func connect(_ namespace: Int32, port: UInt16) throws(GuardError) -> FileDescriptor {
        let socket: FileDescriptor
        let expected: UInt64
        do throws(SystemError) {
            var st = stat()
            try check("fstat(network namespace)") { fstat(namespace, &st) }
            try check("setns(network namespace)") { wd_setns(namespace, Int32(WD_CLONE_NEWNET)) }
            expected = UInt64(st.st_ino)
            let (made, connected) = try Sockets.connect(SocketAddress(.v4(0x7F00_0001), port))
            if !connected {
                var entry = pollfd(fd: made.raw, events: Int16(POLLOUT), revents: 0)
                guard poll(&entry, 1, connectTimeoutMilliseconds) > 0 else {
                    throw SystemError(errno: ETIMEDOUT, step: "connect(127.0.0.1:\(port) in the sandbox)")
                }
                let error = Sockets.pendingError(made.raw)
                guard error == 0 else { throw SystemError(errno: error, step: "connect(127.0.0.1:\(port) in the sandbox)") }
            }
            socket = made
        } catch {
            throw GuardError(.setupFailed, "ports: \(error.description)")
        }
        let actual = try? Sockets.namespaceInode(socket.raw)
        guard actual == expected else {
            throw GuardError(.wrongNamespace, "ports: the connection is not in the sandbox's network namespace (R21); refused")
        }
        // Back to blocking: the caller relays with ordinary reads and writes.
        _ = fcntl(socket.raw, F_SETFL, fcntl(socket.raw, F_GETFL) & ~O_NONBLOCK)
        return socket
    }
}
