import Glibc
import WardenSystem

/// Relays between the caller's terminal and the sandbox's own pseudo-terminal (like `ssh -t`),
/// so the workload gets job control while nothing it does (TIOCSTI, escape sequences that make a
/// terminal answer) reaches the caller's terminal device itself (R12).
final class TerminalRelay {
    let master: FileDescriptor
    /// The caller's terminal the relay reads keystrokes from (nil: stdin is not a terminal, or
    /// it hung up).
    private var input: Int32?
    /// Where the sandbox's terminal output goes.
    private let output: Int32
    private let rawMode: RawTerminal?
    private var pendingInput: [UInt8] = []
    private var outputFilter = TerminalOutputFilter()
    private(set) var masterOpen = true

    init(master: FileDescriptor, input: Int32?, output: Int32) {
        self.master = master
        self.input = input
        self.output = output
        let flags = fcntl(master.raw, F_GETFL)
        _ = fcntl(master.raw, F_SETFL, flags | O_NONBLOCK)
        if let input {
            let raw = RawTerminal(fd: input)
            raw.enable()
            rawMode = raw
        } else {
            rawMode = nil
        }
    }

    /// Descriptors the loop polls for this relay.
    var pollDescriptors: [Int32] {
        var fds: [Int32] = []
        if masterOpen { fds.append(master.raw) }
        if let input, masterOpen { fds.append(input) }
        return fds
    }

    var hasPendingInput: Bool { !pendingInput.isEmpty }

    /// Copies what the sandbox wrote to the caller's terminal. False once the terminal closed.
    @discardableResult
    func pumpOutput() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while masterOpen {
            let n = buffer.withUnsafeMutableBytes { read(master.raw, $0.baseAddress, $0.count) }
            if n > 0 {
                let allowed = outputFilter.filter(buffer[0..<n])
                writeFully(output, allowed, count: allowed.count)
                continue
            }
            if n < 0 && (Glibc.errno == EAGAIN || Glibc.errno == EINTR) { return true }
            masterOpen = false  // EIO: every slave descriptor is closed
        }
        return false
    }

    /// After the sandbox is gone: copies what is still on its way. Writes to a pseudo-terminal
    /// reach the master through a kernel work queue, so right after the last writer exits a
    /// read can find nothing yet; the master reports EIO only once every slave is closed and
    /// that queue is flushed, so reading until EIO loses no output. Bounded, in case something
    /// still holds a slave open.
    func drainOutput(timeoutMilliseconds: Int = 2000) {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        while masterOpen && pumpOutput() {
            let now = monotonicNanoseconds()
            guard now < deadline else { return }
            var descriptor = pollfd(fd: master.raw, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32((deadline - now) / 1_000_000) + 1)
        }
    }

    /// Forwards the caller's keystrokes. At end of input (the terminal hung up) it stops
    /// reading, so the loop does not spin on a descriptor that stays readable.
    func pumpInput() {
        guard let fd = input else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            if pendingInput.count < 65536 { pendingInput += buffer[0..<n] }
        } else if n == 0 || (Glibc.errno != EAGAIN && Glibc.errno != EINTR) {
            input = nil
        }
        flushInput()
    }

    func flushInput() {
        while !pendingInput.isEmpty && masterOpen {
            let n = pendingInput.withUnsafeBytes { write(master.raw, $0.baseAddress, $0.count) }
            if n > 0 { pendingInput.removeFirst(n) } else { break }
        }
    }

    func resize() {
        if let size = TerminalInfo.windowSize(input ?? output) { TerminalInfo.setWindowSize(master.raw, size) }
    }

    /// The caller's terminal, for the event loop to tell its events apart.
    var inputDescriptor: Int32? { input }

    /// Restores the caller's terminal and discards what it typed or answered that the sandbox
    /// did not read: it must not reach the caller's shell as input.
    func restore() {
        rawMode?.restore()
        if let input { tcflush(input, TCIFLUSH) }
    }

    private func writeFully(_ fd: Int32, _ buffer: [UInt8], count: Int) {
        var offset = 0
        while offset < count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, count - offset) }
            if n > 0 { offset += n } else if n < 0 && Glibc.errno == EINTR { continue } else { return }
        }
    }
}
