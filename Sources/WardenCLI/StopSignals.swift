import Glibc
import WardenSystem

/// SIGINT and SIGTERM as a flag a loop checks (through a signalfd, so the default action never
/// kills the process mid-batch): `warden audit stream` ends after the batch in hand, with its
/// position saved.
final class StopSignals: @unchecked Sendable {
    // Safe: the channel is only read by `requested`, from one thread.
    private let channel: SignalChannel?
    private var seen = false

    private init(channel: SignalChannel?) {
        self.channel = channel
    }

    static func install() -> StopSignals {
        StopSignals(channel: try? SignalChannel(signals: [SIGINT, SIGTERM]))
    }

    var requested: Bool {
        if seen { return true }
        guard let channel else { return false }
        var entry = pollfd(fd: channel.descriptor.raw, events: Int16(POLLIN), revents: 0)
        seen = poll(&entry, 1, 0) > 0
        return seen
    }
}
