import Glibc
import Policy
import Store
import WardenSystem

/// Deletes ended agents' data (the clone and handoff repository, logs, prompt, follow-ups) once the
/// policy's `retention.agentData` has passed since they ended. An agent that has not ended is
/// never touched. Each deletion is recorded in the agent's history with the policy's reason.
/// Environment snapshots go the same way, counted from their last use.
public enum RetentionSweep {
    public struct Outcome: Sendable, Equatable {
        public var removed: [String] = []
        /// Agents kept, with why (not yet expired).
        public var kept: [String] = []
        public var failures: [String] = []
        /// Environment snapshots removed (keys).
        public var snapshotsRemoved: [String] = []
    }

    /// `now`: milliseconds since the epoch. `dryRun` decides without deleting or recording.
    public static func run(agents: AgentStore, policy: OrgPolicy, layout: AgentLayout, now: Int64, dryRun: Bool = false) -> Outcome {
        var outcome = Outcome()
        let evaluator = PolicyEvaluator(policy)
        let records: [AgentRecord]
        do { records = try agents.list(includeEnded: true) } catch {
            outcome.failures.append("the agent store cannot be read: \(error.message)")
            return outcome
        }
        for record in records where record.state.isTerminal && !record.dataRemoved {
            let decision = evaluator.isExpired(RetainedRecord(kind: .agentData, since: record.updated / 1000), now: now / 1000)
            guard decision.allowed else {
                outcome.kept.append("\(record.id): \(decision.reason)")
                continue
            }
            if dryRun {
                outcome.removed.append(record.id)
                continue
            }
            // Ids are Warden's own; one that is not a plain name is never used as a path.
            guard AgentLayout.isValidID(record.id) else {
                outcome.failures.append("\(record.id.prefix(40)): not a Warden agent id; its data is not touched")
                continue
            }
            do {
                try removeTree(layout.checkout(record.id))
                try removeTree(layout.directory(record.id))
                try agents.markDataRemoved(record.id, reason: "data removed: \(decision.reason) [\(decision.rule)]", at: now)
                outcome.removed.append(record.id)
            } catch let error as StoreError {
                outcome.failures.append("\(record.id): \(error.message)")
            } catch {
                outcome.failures.append("\(record.id): \(error)")
            }
        }
        // Each line: a snapshot key or a build the agent uses.
        let inUse = Set(records.filter { !$0.state.isTerminal }.flatMap { record in
            ((try? Files.readText(layout.snapshotKey(record.id), limit: 4096)) ?? "").split(separator: "\n").map { String($0).trimmingWhitespace() }
        })
        let snapshots = SnapshotStore(home: layout.home).sweep(policy: policy, now: now, dryRun: dryRun, inUse: inUse)
        outcome.snapshotsRemoved = snapshots.removed
        outcome.failures += snapshots.failures
        return outcome
    }

    /// Removes a directory tree without following symbolic links out of it (an agent may have
    /// left links to anywhere) and without crossing into other file systems. The developer owns
    /// what is inside and may rename things while we work, so every step is relative to an open
    /// directory descriptor, by the entry's raw name, never by a path resolved again.
    static func removeTree(_ path: String) throws(SystemError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.index(before: path.endIndex) else {
            throw SystemError(errno: EINVAL, step: "remove \(path): not a path inside a directory")
        }
        let parentPath = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = Array(String(path[path.index(after: slash)...]).utf8CString)
        let parent = FileDescriptor(try check("open(\(parentPath))") { Glibc.open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC) })
        var st = stat()
        guard fstatat(parent.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw SystemError.current("stat(\(path))")
        }
        try removeEntry(in: parent, name, st, device: st.st_dev, depth: 0, display: path)
    }

    private static func removeEntry(in directory: FileDescriptor, _ name: [CChar], _ st: stat, device: dev_t, depth: Int, display: String) throws(SystemError) {
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            try check("unlink(\(display))") { unlinkat(directory.raw, name, 0) }
            return
        }
        guard depth < 256 else { throw SystemError(errno: ELOOP, step: "remove \(display): nested deeper than 256 directories") }
        guard st.st_dev == device else { throw SystemError(errno: EXDEV, step: "remove \(display): another file system is mounted there") }
        // O_NOFOLLOW: if the entry became a link since fstatat, this fails instead of following it.
        let child = FileDescriptor(try check("open(\(display))") { openat(directory.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
        var opened = stat()
        guard fstat(child.raw, &opened) == 0, opened.st_dev == device else {
            throw SystemError(errno: EXDEV, step: "remove \(display): another file system is mounted there")
        }
        for entry in Files.rawEntries(child) {
            var entryStat = stat()
            let entryDisplay = display + "/" + Files.displayName(entry)
            guard fstatat(child.raw, entry, &entryStat, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { continue }
                throw SystemError.current("stat(\(entryDisplay))")
            }
            try removeEntry(in: child, entry, entryStat, device: device, depth: depth + 1, display: entryDisplay)
        }
        try check("rmdir(\(display))") { unlinkat(directory.raw, name, AT_REMOVEDIR) }
    }
}
