/// Dropped packets, as the firewall's log reports them: each becomes a refused record
/// (repeats merged by the recorder).
extension SandboxGuard {
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
