import CWardenShim
import Glibc
import WardenSystem

/// epoll(7) for one guard thread: descriptors are registered with their interest and handed
/// back, level-triggered, as (descriptor, events). Single-threaded by design: every handler
/// runs on the loop's thread, so connection state needs no lock.
final class EventLoop {
    private let epoll: FileDescriptor
    private var events = [epoll_event](repeating: epoll_event(), count: 256)

    static let readable = UInt32(EPOLLIN.rawValue)
    static let writable = UInt32(EPOLLOUT.rawValue)
    static let hangup = UInt32(EPOLLHUP.rawValue) | UInt32(EPOLLERR.rawValue) | UInt32(EPOLLRDHUP.rawValue)

    init() throws(SystemError) {
        epoll = FileDescriptor(try check("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
    }

    func add(_ fd: Int32, _ interest: UInt32) throws(SystemError) {
        var event = epoll_event(events: interest, data: epoll_data_t(fd: fd))
        try check("epoll_ctl(ADD)") { epoll_ctl(epoll.raw, EPOLL_CTL_ADD, fd, &event) }
    }

    /// Changes the interest of a registered descriptor; errors (a descriptor closed meanwhile)
    /// are the caller's to notice on its next read or write.
    func modify(_ fd: Int32, _ interest: UInt32) {
        var event = epoll_event(events: interest, data: epoll_data_t(fd: fd))
        _ = epoll_ctl(epoll.raw, EPOLL_CTL_MOD, fd, &event)
    }

    func remove(_ fd: Int32) {
        _ = epoll_ctl(epoll.raw, EPOLL_CTL_DEL, fd, nil)
    }

    /// Waits up to `milliseconds` and returns what is ready.
    func wait(milliseconds: Int32) -> [(fd: Int32, events: UInt32)] {
        let count = events.withUnsafeMutableBufferPointer { epoll_wait(epoll.raw, $0.baseAddress, Int32($0.count), milliseconds) }
        guard count > 0 else { return [] }
        return (0..<Int(count)).map { (events[$0].data.fd, events[$0].events) }
    }
}
