import Glibc
import Store
import WardenSystem

/// Background agents (issue 5): the time from `warden agent start` to the agent program's first
/// instruction, with the clone's own time (which the owner records) taken out; and the memory
/// of the supervisor plus every owner process with 50 idle agents running. Runs a private
/// supervisor on a temporary home with a local origin; network off; only loopback is touched.
enum AgentBench {
    struct Summary {
        var startMedianMilliseconds = 0.0
        var perAgentMiB = 0.0
        var idleAgents = 0
    }

    nonisolated(unsafe) static var summary = Summary()

    static let latencySamples = 12
    static let idleCount = 50

    static func run(warden: String, base: String) {
        guard getuid() == 0 else {
            print("\nBackground agents: skipped (needs root: agents clone and push as their developer)")
            return
        }
        let admin = String(warden[..<(warden.lastIndex(of: "/") ?? warden.startIndex)]) + "/warden-admin"
        let home = base + "/agents-home", socket = base + "/agents.sock", origin = base + "/origin.git"
        guard makeOrigin(base: base, origin: origin) else { return }
        for (key, value) in [("network.mode", "none"), ("privacy.default", "off")] {
            guard measure([admin, "set", key, value, "--home", home], directory: base).status == 0 else {
                printError("warden-bench: agents: warden-admin set \(key) failed")
                return
            }
        }
        guard let serve = spawnReadingOutput([warden, "serve", "--home", home, "--socket", socket, "--key-file", base + "/secrets.key"]) else { return }
        defer {
            kill(serve.pid, SIGTERM)
            var status: Int32 = 0
            waitpid(serve.pid, &status, 0)
            close(serve.output)
        }
        for _ in 0..<100 where Files.lstat(socket) == nil { usleep(50_000) }
        setenv("WARDEN_SOCKET", socket, 1)
        guard let store = try? AgentStore(path: AgentStore.path(home: home)) else {
            printError("warden-bench: agents: the store cannot be opened")
            return
        }
        latency(warden: warden, origin: origin, home: home, store: store, base: base)
        idle(warden: warden, origin: origin, home: home, store: store, base: base, serve: serve.pid)
    }

    private static func makeOrigin(base: String, origin: String) -> Bool {
        let seed = base + "/seed"
        let script = "set -e; mkdir -p '\(seed)'; cd '\(seed)'; git init -q -b main; echo bench > README.md; "
            + "git -c user.name=b -c user.email=b@b.invalid add -A; git -c user.name=b -c user.email=b@b.invalid commit -qm seed; "
            + "git clone -q --bare '\(seed)' '\(origin)'"
        guard measure(["/bin/sh", "-c", script], directory: base).status == 0 else {
            printError("warden-bench: agents: cannot make the origin repository")
            return false
        }
        return true
    }

    /// Starts an agent; its id.
    private static func start(_ warden: String, origin: String, command: String, base: String) -> String? {
        let sample = measure([warden, "agent", "start", "--repo", origin, "--prompt", "bench", "--command", "/bin/sh", "-c", command], directory: base)
        let id = sample.output.trimmingWhitespace()
        return sample.status == 0 && id.count == 12 ? id : nil
    }

    private static func waitFor(_ store: AgentStore, _ id: String, states: Set<AgentState>, seconds: Double) -> AgentState? {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var state: AgentState?
        while monotonicNanoseconds() < deadline {
            state = try? store.get(id)?.state
            if let state, states.contains(state) { return state }
            usleep(20_000)
        }
        return state
    }

    private static func latency(warden: String, origin: String, home: String, store: AgentStore, base: String) {
        print("\nBackground agents: `warden agent start` to the agent program's first instruction, \(latencySamples) agents one after another")
        var total: [Double] = [], excludingClone: [Double] = [], clone: [Double] = [], request: [Double] = [], launch: [Double] = []
        for _ in 0..<latencySamples {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let before = Double(now.tv_sec) * 1e3 + Double(now.tv_nsec) / 1e6
            guard let id = start(warden, origin: origin, command: "date +%s%N > \"$WARDEN_STATUS_FILE\"", base: base) else {
                printError("warden-bench: agents: an agent did not start")
                return
            }
            guard waitFor(store, id, states: [.finished, .failed, .stopped, .expired], seconds: 60) == .finished else {
                printError("warden-bench: agents: agent \(id) did not finish: \((try? store.history(id))?.last?.reason ?? "?")")
                return
            }
            let status = (try? Files.readText(home + "/agents/\(id)/outbox/status")) ?? ""
            guard let programNanoseconds = Double(status.trimmingWhitespace()), let history = try? store.history(id),
                  let preparing = history.first(where: { $0.state == .preparing }),
                  let cloned = history.first(where: { $0.reason.hasPrefix("workspace ready") }),
                  let running = history.first(where: { $0.state == .running }) else {
                printError("warden-bench: agents: agent \(id) left no timestamps")
                return
            }
            let program = programNanoseconds / 1e6
            let cloneMilliseconds = Double(cloned.time - preparing.time)
            total.append(program - before)
            clone.append(cloneMilliseconds)
            excludingClone.append(program - before - cloneMilliseconds)
            request.append(Double(preparing.time) - before)
            launch.append(program - Double(running.time))
        }
        func line(_ name: String, _ values: [Double]) {
            print("  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) median \(round1(median(values))) ms  p90 \(round1(percentile(values, 0.9))) ms")
        }
        line("start -> program (all)", total)
        line("  of which the clone (as the owner)", clone)
        line("start -> program, clone excluded", excludingClone)
        line("  CLI + supervisor + owner spawn", request)
        line("  sandbox launch (running -> program)", launch)
        summary.startMedianMilliseconds = median(excludingClone)
        print("  target <= 300 ms (clone and install excluded): \(summary.startMedianMilliseconds <= 300 ? "met" : "not met")")
    }

    private static func idle(warden: String, origin: String, home: String, store: AgentStore, base: String, serve: pid_t) {
        print("\nBackground agents: memory with \(idleCount) idle agents (each a sandbox whose program sleeps)")
        var ids: [String] = []
        for _ in 0..<idleCount {
            guard let id = start(warden, origin: origin, command: "exec sleep 300", base: base) else { break }
            ids.append(id)
        }
        let running = ids.filter { waitFor(store, $0, states: [.running], seconds: 120) == .running }
        // Let each sandbox finish starting (its program sleeping) before measuring.
        usleep(1_000_000)
        let owners = ids.compactMap { ownerPID(home: home, id: $0) }
        let processes = [serve] + owners
        let wardenPSS = processes.map { memory(of: $0, field: "Pss:") }.reduce(0, +)
        let wardenRSS = processes.map { memory(of: $0, field: "Rss:") }.reduce(0, +)
        let wardenUSS = processes.map { memory(of: $0, field: "Private_Clean:") + memory(of: $0, field: "Private_Dirty:") }.reduce(0, +)
        let servePSS = memory(of: serve, field: "Pss:")
        summary.idleAgents = running.count
        summary.perAgentMiB = running.isEmpty ? 0 : Double(wardenPSS) / 1024 / Double(running.count)
        print("  running: \(running.count) of \(ids.count); owner processes found: \(owners.count)")
        print("  supervisor (serve) PSS \(round1(Double(servePSS) / 1024)) MiB; supervisor + owners: PSS \(round1(Double(wardenPSS) / 1024)) MiB, "
              + "private (USS) \(round1(Double(wardenUSS) / 1024)) MiB, RSS summed \(round1(Double(wardenRSS) / 1024)) MiB (counts the shared binary once per process)")
        print("  per agent (supervisor + owners, PSS): \(round1(summary.perAgentMiB)) MiB (target <= 10 MiB: \(summary.perAgentMiB > 0 && summary.perAgentMiB <= 10 ? "met" : "not met"))")
        for id in ids { _ = measure([warden, "agent", "stop", id], directory: base) }
        for id in ids { _ = waitFor(store, id, states: [.finished, .failed, .stopped, .expired], seconds: 120) }
    }

    private static func ownerPID(home: String, id: String) -> pid_t? {
        guard let text = try? Files.readText(home + "/agents/\(id)/owner.json", limit: 4096),
              let range = text.firstRange(of: "\"pid\"") else { return nil }
        let digits = text[range.upperBound...].drop { !$0.isNumber }.prefix { $0.isNumber }
        return pid_t(digits)
    }

    /// A field of /proc/PID/smaps_rollup, in KiB (0 when unreadable).
    private static func memory(of pid: pid_t, field: String) -> Int {
        guard let text = try? Files.readText("/proc/\(pid)/smaps_rollup", limit: 1 << 16) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    private static func round1(_ value: Double) -> Double { (value * 10).rounded() / 10 }
}
