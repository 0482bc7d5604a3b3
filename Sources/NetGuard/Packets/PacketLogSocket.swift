import CWardenShim
import Glibc
import Policy
import WardenSystem

/// The NFLOG group the sandbox's firewall logs its drops to (nfnetlink_log), read from inside
/// the sandbox's network namespace: each dropped packet (UDP other than DNS, QUIC, ICMP, other
/// protocols) arrives with its first bytes, from which the guard records protocol and
/// destination. Netlink is spoken directly: two configuration messages, then packets.
final class PacketLogSocket {
    let socket: FileDescriptor
    static let netlinkNetfilter: Int32 = 12
    static let subsystemULog: UInt16 = 4

    init(group: UInt16) throws(SystemError) {
        socket = FileDescriptor(try check("socket(NETLINK_NETFILTER)") {
            Glibc.socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Self.netlinkNetfilter)
        })
        var local = sockaddr_nl()
        local.nl_family = sa_family_t(AF_NETLINK)
        try check("bind(NETLINK_NETFILTER)") {
            withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.raw, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) } }
        }
        // NFULNL_CFG_CMD_BIND for the group, then NFULNL_COPY_PACKET of 96 bytes (headers), then
        // a queue threshold of one: the kernel otherwise batches up to 100 packets for a second,
        // and a workload that exits sooner would leave its drops unread when the guard stops.
        try configure(group: group, attribute: 1, payload: [1])
        try configure(group: group, attribute: 2, payload: [0, 0, 0, 96, 2, 0])
        try configure(group: group, attribute: 5, payload: [0, 0, 0, 1])
        let flags = fcntl(socket.raw, F_GETFL)
        _ = fcntl(socket.raw, F_SETFL, flags | O_NONBLOCK)
    }

    private func configure(group: UInt16, attribute: UInt16, payload: [UInt8]) throws(SystemError) {
        var message: [UInt8] = []
        let attributeLength = 4 + payload.count
        let total = 16 + 4 + ((attributeLength + 3) & ~3)
        func u16(_ value: UInt16) { message += [UInt8(value & 0xFF), UInt8(value >> 8)] }
        func u32(_ value: UInt32) { message += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)] }
        u32(UInt32(total))
        u16(Self.subsystemULog << 8 | 1)  // NFULNL_MSG_CONFIG
        u16(UInt16(NLM_F_REQUEST | NLM_F_ACK))
        u32(1)
        u32(0)
        message += [UInt8(AF_UNSPEC), 0, UInt8(group >> 8), UInt8(group & 0xFF)]  // nfgenmsg, res_id big-endian
        u16(UInt16(attributeLength))
        u16(attribute)
        message += payload
        while message.count < total { message.append(0) }
        try checkSize("send(NFULNL_MSG_CONFIG)") { message.withUnsafeBytes { send(socket.raw, $0.baseAddress, $0.count, 0) } }
        var reply = [UInt8](repeating: 0, count: 256)
        let n = try checkSize("recv(NFULNL ack)") { reply.withUnsafeMutableBytes { recv(socket.raw, $0.baseAddress, $0.count, 0) } }
        if n >= 20, reply[4] == UInt8(NLMSG_ERROR) {
            let code = Int32(bitPattern: UInt32(reply[16]) | UInt32(reply[17]) << 8 | UInt32(reply[18]) << 16 | UInt32(reply[19]) << 24)
            if code != 0 { throw SystemError(errno: -code, step: "nfnetlink_log configuration") }
        }
    }

    /// One dropped packet as the log reported it.
    struct Packet: Equatable {
        var prefix: String
        var proto: String
        var destination: IPAddress?
        var port: Int
    }

    /// Reads what is queued (bounded); never blocks.
    func read() -> [Packet] {
        var packets: [Packet] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes { recv(socket.raw, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0 else { break }
            packets += Self.parse(buffer[0..<n])
        }
        return packets
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> [Packet] {
        let data = Array(bytes)
        var packets: [Packet] = []
        var offset = 0
        func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        while offset + 16 <= data.count {
            let length = u32(offset)
            guard length >= 16, offset + length <= data.count else { break }
            let type = u16(offset + 4)
            if type == Int(subsystemULog) << 8 {
                var prefix = ""
                var payload: [UInt8] = []
                var at = offset + 20
                while at + 4 <= offset + length {
                    let attributeLength = u16(at)
                    let attributeType = u16(at + 2) & 0x3FFF
                    guard attributeLength >= 4, at + attributeLength <= offset + length else { break }
                    let value = Array(data[(at + 4)..<(at + attributeLength)])
                    if attributeType == 9 { payload = value }
                    if attributeType == 10 { prefix = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self) }
                    at += (attributeLength + 3) & ~3
                }
                packets.append(packet(prefix: prefix, payload: payload))
            }
            offset += (length + 3) & ~3
        }
        return packets
    }

    static func packet(prefix: String, payload: [UInt8]) -> Packet {
        guard let first = payload.first else { return Packet(prefix: prefix, proto: "unknown", destination: nil, port: 0) }
        var proto = 0, destination: IPAddress? = nil, transport = 0
        if first >> 4 == 4, payload.count >= 20 {
            proto = Int(payload[9])
            destination = SocketAddress.fromBytes(Array(payload[16..<20]))
            transport = Int(first & 0x0F) * 4
        } else if first >> 4 == 6, payload.count >= 40 {
            proto = Int(payload[6])
            destination = SocketAddress.fromBytes(Array(payload[24..<40]))
            transport = 40
        }
        var port = 0
        if (proto == 6 || proto == 17) && payload.count >= transport + 4 {
            port = Int(payload[transport + 2]) << 8 | Int(payload[transport + 3])
        }
        let name: String
        switch proto {
        case 1: name = "icmp"
        case 6: name = "tcp"
        case 17: name = "udp"
        case 58: name = "icmpv6"
        default: name = "ip-proto-\(proto)"
        }
        return Packet(prefix: prefix, proto: name, destination: destination, port: port)
    }
}
