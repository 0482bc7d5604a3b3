import CWardenShim
import Glibc
import WardenSystem

/// One direction of a relayed connection, moved by splice(2) through a pipe: bytes go from
/// the source socket into the pipe and from the pipe into the destination socket without
/// being copied into the guard's memory. `held` is what sits in the pipe.
final class SplicePipe {
    let readEnd: FileDescriptor
    let writeEnd: FileDescriptor
    private(set) var held = 0
    static let chunk = 1 << 20

    init() throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        try check("pipe2") { wd_pipe2(&fds, O_NONBLOCK | O_CLOEXEC) }
        readEnd = FileDescriptor(fds[0])
        writeEnd = FileDescriptor(fds[1])
        // A bigger pipe means fewer wake-ups on bulk transfers; best effort.
        _ = wd_set_pipe_size(fds[1], Int32(Self.chunk))
    }

    enum Fill {
        case moved(Int)
        case endOfStream
        case wouldBlock
        case failed(Int32)
    }

    /// Moves up to `limit` bytes from `source` into the pipe.
    func fill(from source: Int32, limit: Int = SplicePipe.chunk) -> Fill {
        let n = wd_splice(source, writeEnd.raw, limit, UInt32(WD_SPLICE_F_MOVE | WD_SPLICE_F_NONBLOCK))
        if n > 0 {
            held += n
            return .moved(n)
        }
        if n == 0 { return .endOfStream }
        let code = errno
        return code == EAGAIN || code == EWOULDBLOCK || code == EINTR ? .wouldBlock : .failed(code)
    }

    /// Moves what the pipe holds into `destination`; returns bytes moved, or an errno.
    func drain(to destination: Int32) -> Result<Int, SystemError> {
        guard held > 0 else { return .success(0) }
        let n = wd_splice(readEnd.raw, destination, held, UInt32(WD_SPLICE_F_MOVE | WD_SPLICE_F_NONBLOCK))
        if n > 0 {
            held -= n
            return .success(n)
        }
        let code = errno
        if n < 0 && (code == EAGAIN || code == EWOULDBLOCK || code == EINTR) { return .success(0) }
        return .failure(SystemError(errno: n == 0 ? EPIPE : code, step: "splice"))
    }
}
