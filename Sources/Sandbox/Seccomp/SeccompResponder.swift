import CSeccomp
import Glibc
import WardenSystem

/// Answers the sandbox's denied syscalls. The filter sends every denial to this listener
/// instead of failing it in the kernel, so the supervisor can count each one by name (for the
/// manifest, and to tell the agent why it failed) and return the errno the profile asks for.
/// It never lets a call through: the only answer is an error.
final class SeccompResponder {
    let listener: FileDescriptor
    private let resolver: LazyDenialResolver
    private(set) var counts: [String: Int] = [:]
    /// socket(2) denials by (family, type, protocol): what the network guard records.
    private(set) var sockets: [SocketKey: Int] = [:]

    struct SocketKey: Hashable {
        var family: Int32
        var type: Int32
        var proto: Int32
    }

    var refusedSockets: [RunManifest.RefusedSocket] {
        sockets.map { RunManifest.RefusedSocket(family: $0.key.family, type: $0.key.type, proto: $0.key.proto, count: $0.value) }
            .sorted { ($0.family, $0.type, $0.proto) < ($1.family, $1.type, $1.proto) }
    }
    private var request: UnsafeMutablePointer<seccomp_notif>?
    private var response: UnsafeMutablePointer<seccomp_notif_resp>?

    init(listener: FileDescriptor, resolver: LazyDenialResolver) throws(SandboxError) {
        self.listener = listener
        self.resolver = resolver
        guard seccomp_notify_alloc(&request, &response) == 0, request != nil, response != nil else {
            throw SandboxError(.setupFailed, "seccomp_notify_alloc failed")
        }
    }

    deinit {
        seccomp_notify_free(request, response)
    }

    /// Handles one pending notification. Returns false once the listener is gone (every task
    /// of the filter has exited).
    func handleOne() -> Bool {
        guard let request, let response else { return false }
        let requestSize = Int(seccompNotificationSizes.request)
        UnsafeMutableRawPointer(request).initializeMemory(as: UInt8.self, repeating: 0, count: requestSize)
        let received = seccomp_notify_receive(listener.raw, request)
        if received != 0 {
            // ENOENT: the task died before we read it; EINTR: retry later.
            return -received == ENOENT || -received == EINTR
        }
        let data = request.pointee.data
        let args = withUnsafeBytes(of: data.args) { Array($0.bindMemory(to: UInt64.self)) }
        let errno = resolver.errno(nr: data.nr, arch: data.arch, args: args)
        let name = Self.name(nr: data.nr, arch: data.arch)
        counts[name, default: 0] += 1
        if name == "socket", args.count >= 3 {
            // The type's low four bits (SOCK_TYPE_MASK); the rest are SOCK_NONBLOCK/CLOEXEC.
            let key = SocketKey(family: Int32(truncatingIfNeeded: args[0]), type: Int32(truncatingIfNeeded: args[1] & 0xF),
                                proto: Int32(truncatingIfNeeded: args[2]))
            sockets[key, default: 0] += 1
        }

        let responseSize = Int(seccompNotificationSizes.response)
        UnsafeMutableRawPointer(response).initializeMemory(as: UInt8.self, repeating: 0, count: responseSize)
        response.pointee.id = request.pointee.id
        response.pointee.error = -errno
        response.pointee.val = 0
        response.pointee.flags = 0
        _ = seccomp_notify_respond(listener.raw, response)  // ENOENT: the caller died meanwhile
        return true
    }

    static func name(nr: Int32, arch: UInt32) -> String {
        if arch == SyscallTable.nativeArch { return SyscallTable.name(of: nr) ?? "syscall-\(nr)" }
        let archName = SyscallTable.archName(arch)
        return "\(archName):" + (SyscallTable.name(of: nr, arch: arch) ?? "syscall-\(nr)")
    }
}

/// Sizes of the notification structures the running kernel uses.
let seccompNotificationSizes: (request: UInt16, response: UInt16) = {
    var request: UInt16 = 0, response: UInt16 = 0
    if wd_seccomp_notif_sizes(&request, &response) != 0 {
        return (UInt16(MemoryLayout<seccomp_notif>.size), UInt16(MemoryLayout<seccomp_notif_resp>.size))
    }
    return (max(request, UInt16(MemoryLayout<seccomp_notif>.size)), max(response, UInt16(MemoryLayout<seccomp_notif_resp>.size)))
}()

import CWardenShim
