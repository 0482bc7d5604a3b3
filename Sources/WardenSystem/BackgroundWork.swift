import Glibc

/// Runs one piece of work on its own OS thread and hands back its result once. Used where the
/// kernel makes Warden wait (a cgroup v1 move waits for an RCU grace period) so that the wait
/// overlaps other preparation instead of adding to the launch.
public final class BackgroundWork<Value>: @unchecked Sendable {
    // Safe: `outcome` is written by the worker thread before it exits and read only after
    // pthread_join has returned, which orders the two.
    private let holder: Holder
    private var thread = pthread_t()
    private var running = false

    private final class Holder {
        let work: () -> Value
        var outcome: Value?
        init(_ work: @escaping () -> Value) { self.work = work }
        func run() { outcome = work() }
    }

    /// Starts `work` on a thread; when no thread can be started it runs here instead (the
    /// result is the same, only later).
    public convenience init(_ work: @escaping () -> Value) {
        self.init(work, runInlineOnFailure: true)
    }

    /// For work that must not run on the caller's thread (a loop that runs until told to
    /// stop): nil when no thread can be started.
    public static func onOwnThread(_ work: @escaping () -> Value) -> BackgroundWork? {
        let background = BackgroundWork(work, runInlineOnFailure: false)
        return background.running ? background : nil
    }

    private init(_ work: @escaping () -> Value, runInlineOnFailure: Bool) {
        holder = Holder(work)
        let job = ThreadJob(holder.run)
        running = job.start(&thread)
        if !running && runInlineOnFailure { holder.run() }
    }

    /// Lets the thread go: it is reclaimed when it ends, and `wait` must not be called. For
    /// fire-and-forget work (a supervisor's connection), which would otherwise keep its stack.
    public func detach() {
        if running {
            pthread_detach(thread)
            running = false
        }
    }

    /// Waits for the work (once) and returns its value.
    public func wait() -> Value {
        if running {
            pthread_join(thread, nil)
            running = false
        }
        if let outcome = holder.outcome { return outcome }
        holder.run()  // unreachable: the worker stores its outcome before exiting
        return wait()
    }
}

/// A closure handed to pthread_create through an unmanaged reference.
private final class ThreadJob {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }

    func start(_ thread: inout pthread_t) -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        if pthread_create(&thread, nil, threadJobEntry, context) == 0 { return true }
        Unmanaged<ThreadJob>.fromOpaque(context).release()
        return false
    }
}

private func threadJobEntry(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    Unmanaged<ThreadJob>.fromOpaque(context).takeRetainedValue().body()
    return nil
}
