import CWardenShim
import Glibc
import WardenSystem

/// The guard's sockets for one sandbox, all created inside the sandbox's network namespace
/// (R21): the capture port every redirected TCP connection reaches, the resolver (UDP on
/// 127.0.0.1 and ::1 so replies leave from the address the redirect expects, and TCP), the
/// explicit proxy (HTTP_PROXY/HTTPS_PROXY, on 127.0.0.1 and ::1) and the NFLOG socket that
/// reports dropped packets.
public final class NamespaceSockets {
    let proxy: FileDescriptor
    let explicitProxy: [FileDescriptor]
    let dnsUDP: [FileDescriptor]
    let dnsTCP: FileDescriptor
    let packetLog: PacketLogSocket?
    /// The inode of the sandbox's network namespace, which every socket above was checked against.
    public let namespaceInode: UInt64

    init(proxy: FileDescriptor, explicitProxy: [FileDescriptor], dnsUDP: [FileDescriptor], dnsTCP: FileDescriptor, packetLog: PacketLogSocket?,
         namespaceInode: UInt64) {
        self.proxy = proxy
        self.explicitProxy = explicitProxy
        self.dnsUDP = dnsUDP
        self.dnsTCP = dnsTCP
        self.packetLog = packetLog
        self.namespaceInode = namespaceInode
    }

    /// Enters the network namespace of process `pid` on a dedicated thread, installs the
    /// capture (lo, routes, nftables), makes the sockets there and verifies each is in that
    /// namespace before handing them back. The thread ends afterwards: nothing else ever runs
    /// in the sandbox's namespace on Warden's behalf.
    public static func capture(pid: Int32, nft: String = "/usr/sbin/nft", pingGroups: ClosedRange<UInt32>? = nil) throws(GuardError) -> NamespaceSockets {
        // Its own thread or nothing: this thread must never be left in the sandbox's namespace.
        let work = BackgroundWork.onOwnThread { () -> Result<UncheckedBox<NamespaceSockets>, GuardError> in
            Result { () throws(GuardError) in UncheckedBox(try prepare(pid: pid, nft: nft, pingGroups: pingGroups)) }
        }
        guard let work else { throw GuardError(.setupFailed, "network guard: no thread to enter the sandbox's network namespace") }
        return try work.wait().get().value
    }

    private static func prepare(pid: Int32, nft: String, pingGroups: ClosedRange<UInt32>?) throws(GuardError) -> NamespaceSockets {
        let namespace: FileDescriptor
        let inode: UInt64
        do {
            namespace = try FileDescriptor.open("/proc/\(pid)/ns/net", O_RDONLY)
            inode = UInt64(try namespace.stat().st_ino)
            try check("setns(/proc/\(pid)/ns/net)") { wd_setns(namespace.raw, Int32(WD_CLONE_NEWNET)) }
            try check("loopback, routes and the dummy address") { wd_net_capture_routes() }
        } catch {
            throw GuardError.setup("enter the sandbox's network namespace", error)
        }
        // Ping sockets (ICMP echo without raw sockets) for the sandbox's own ids, so that ping
        // reaches the firewall and is recorded as dropped instead of failing unseen.
        if let pingGroups {
            try? Files.writeControl("/proc/sys/net/ipv4/ping_group_range", "\(pingGroups.lowerBound) \(pingGroups.upperBound)")
        }
        let result: (status: Int32, stderr: String)
        do {
            result = try ChildProcess.run(nft, ["-f", "-"], input: CaptureRules.ruleset)
        } catch {
            throw GuardError.setup("run nft", error)
        }
        guard result.status == 0 else {
            let why = result.stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(result.status)"
            throw GuardError(.setupFailed, "network guard: nft could not load the capture rules: \(why)")
        }
        do {
            let proxy = try Sockets.dualStack(type: Int32(SOCK_STREAM.rawValue), port: CaptureRules.proxyPort)
            let udp4 = try Sockets.bound(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue), address: "127.0.0.1", port: CaptureRules.resolverPort)
            let udp6 = try Sockets.bound(family: AF_INET6, type: Int32(SOCK_DGRAM.rawValue), address: "::1", port: CaptureRules.resolverPort)
            let tcp = try Sockets.dualStack(type: Int32(SOCK_STREAM.rawValue), port: CaptureRules.resolverPort, backlog: 128)
            let explicit4 = try Sockets.listening(family: AF_INET, address: "127.0.0.1", port: CaptureRules.explicitProxyPort)
            let explicit6 = try Sockets.listening(family: AF_INET6, address: "::1", port: CaptureRules.explicitProxyPort)
            let packets = try? PacketLogSocket(group: CaptureRules.logGroup)
            var all = [proxy, udp4, udp6, tcp, explicit4, explicit6]
            if let packets { all.append(packets.socket) }
            for socket in all {
                let actual = try Sockets.namespaceInode(socket.raw)
                guard actual == inode else {
                    throw GuardError(.wrongNamespace, "network guard: a socket landed in network namespace \(actual), not the sandbox's \(inode) (R21); refusing to use it")
                }
            }
            return NamespaceSockets(proxy: proxy, explicitProxy: [explicit4, explicit6], dnsUDP: [udp4, udp6], dnsTCP: tcp, packetLog: packets, namespaceInode: inode)
        } catch let error as GuardError {
            throw error
        } catch let error as SystemError {
            throw GuardError.setup("make the guard's sockets", error)
        } catch {
            throw GuardError(.setupFailed, "network guard: \(error)")
        }
    }
}
