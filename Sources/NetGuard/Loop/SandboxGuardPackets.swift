/// A kind of socket seccomp refused the sandbox (raw, packet, another family), and how often.
public struct RefusedSocketKind: Sendable, Equatable {
    public var family: Int32
    public var type: Int32
    public var proto: Int32
    /// "AF_INET SOCK_RAW protocol 1".
    public var description: String
    public var count: Int

    public init(family: Int32, type: Int32, proto: Int32, description: String, count: Int) {
        self.family = family
        self.type = type
        self.proto = proto
        self.description = description
        self.count = count
    }
}

/// Dropped packets, as the firewall's log reports them, and sockets seccomp refused: each
/// becomes a refused record (repeats merged by the recorder, or counted).
extension SandboxGuard {
    /// Raw and packet sockets never exist in the sandbox (seccomp refuses them, so nothing is
    /// sent); the attempts are recorded, one record per kind with its count.
    func recordRefusedSockets(_ refused: [RefusedSocketKind], now: UInt64) {
        for kind in refused where kind.count > 0 {
            stats.socketsRefused += kind.count
            let proto = kind.family == 17 || kind.type == 10 ? "packet" : kind.type == 3 ? "raw" : "socket"
            var record = recorder.make(.packet, proto: proto, allowed: false, rule: "socket.refused",
                                       reason: "\(kind.description) sockets cannot be opened in the sandbox: only TCP (through the guard) and DNS (to its resolver) leave it")
            record.count = Int64(kind.count)
            record.detail = "family=\(kind.family); type=\(kind.type); protocol=\(kind.proto)"
            recorder.record(record, now: now)
        }
        recorder.tick(now: now, all: true)
    }

    func readPacketLog(now: UInt64) {
        guard let log = sockets.packetLog else { return }
        for packet in log.read() {
            stats.packetsDropped += 1
            let destination = packet.destination.map { "\($0)" } ?? "?"
            let rule = packet.prefix == "quic" ? "packet.quic" : "packet.dropped"
            let reason = packet.prefix == "quic"
                ? "UDP to port 443 (QUIC) is refused at once so clients fall back to TCP, which the guard judges"
                : "\(packet.proto.uppercased()) to \(destination)\(packet.port > 0 ? ":\(packet.port)" : "") cannot leave the sandbox: only TCP (through the guard) and DNS (to its resolver) can"
            var record = recorder.make(.packet, proto: packet.proto, allowed: false, rule: rule, reason: reason)
            record.address = packet.destination.map { "\($0)" } ?? ""
            record.port = packet.port
            recorder.record(record, now: now)
        }
    }
}
