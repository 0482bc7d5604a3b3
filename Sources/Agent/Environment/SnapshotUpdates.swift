import FoundationEssentials
import Glibc
import Sandbox
import WardenSystem

/// Agents' own layers (agentCanUpdateSnapshot, where `sandbox.agentSnapshotUpdates` allows):
/// an agent's $HOME is an overlay whose upper directory is built here, and once the agent has
/// finished and the layer holds no secret or canary, it goes on top of the snapshot the agent
/// ran on.
extension SnapshotStore {
    /// A fresh directory (root 0700) for an agent's $HOME layer.
    func makeUpdate() throws(SystemError) -> String {
        try AgentLayout.directory(root, mode: 0o700, uid: 0, gid: 0)
        let path = root + "/.building-" + hexString(Host.randomBytes(8))
        try AgentLayout.directory(path, mode: 0o700, uid: 0, gid: 0, mustBeNew: true)
        try AgentLayout.directory(path + "/home", mode: 0o755, uid: 0, gid: 0, mustBeNew: true)
        return path
    }

    /// Puts `building` on top of the stack the agent ran on (`ranOn`; nil: there was no
    /// snapshot yet, and an empty base is made for `key`). Serialised per key (a lock on the
    /// snapshot's directory), so two agents finishing at once each publish a stack they ran
    /// on; the later one wins and the sweep removes the other's layer. Refused when the base
    /// was rebuilt meanwhile, or the stack already holds `maximumUpdates` layers.
    func publishUpdate(_ building: String, key: String, ranOn: EnvironmentSnapshot?, idBase: UInt32, agent: String,
                       now: Int64) throws(SystemError) -> EnvironmentSnapshot {
        let stack = ranOn?.updates ?? []
        guard stack.count < EnvironmentSnapshot.maximumUpdates else {
            throw SystemError(errno: EMLINK, step: "the snapshot already holds \(stack.count) agents' layers (at most \(EnvironmentSnapshot.maximumUpdates)); change environment.json or its lock files to rebuild it")
        }
        let base: EnvironmentSnapshot
        if let ranOn {
            base = ranOn
        } else {
            let empty = try makeBuilding()
            base = try publish(empty, EnvironmentSnapshot(key: key, idBase: idBase, created: now, agent: agent, installMilliseconds: 0, installed: false))
        }
        let lock = try FileDescriptor.open(directory(key), O_RDONLY | O_DIRECTORY, resolve: .noLinks)
        guard flock(lock.raw, LOCK_EX) == 0 else { throw SystemError.current("lock the snapshot \(key.prefix(12))") }
        defer { flock(lock.raw, LOCK_UN) }
        guard var current = find(key), current.created == base.created, current.idBase == base.idBase else {
            throw SystemError(errno: ESTALE, step: "the snapshot was rebuilt or removed while the agent ran")
        }
        let name = key + "-" + hexString(Host.randomBytes(8))
        try check("rename(\(building), \(name))") { rename(building, root + "/" + name) }
        current.updates = [EnvironmentSnapshot.Update(directory: name, idBase: idBase, agent: agent, created: now)] + stack
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(current) else { throw SystemError(errno: EINVAL, step: "encode snapshot.json") }
        try Files.writeAtomically(directory(key) + "/snapshot.json", Array(data), mode: 0o600)
        return current
    }

    /// Takes out the canary files the agent left as they were planted: Warden wrote them, not
    /// the agent, and a later agent gets its own. One the agent changed stays, and the scan
    /// that follows finds the value in it if it is still there.
    static func removePlantedFiles(_ files: [GeneratedFile], from homeUpper: String) {
        guard let home = try? FileDescriptor.open(homeUpper, O_RDONLY | O_DIRECTORY, resolve: .noLinks) else { return }
        for file in files where file.path.hasPrefix(GeneratedEtc.agentHome + "/") {
            let relative = String(file.path.dropFirst(GeneratedEtc.agentHome.count + 1))
            guard let opened = try? FileDescriptor.open(at: home.raw, relative, O_RDONLY | O_NONBLOCK,
                                                        resolve: [.beneath, .noSymlinks, .noMagicLinks, .noCrossingMounts]),
                  let bytes = try? opened.readAll(limit: file.contents.count + 1), bytes == file.contents else { continue }
            unlinkat(home.raw, relative, 0)
            // The directories made for it (~/.aws, ~/.config/gh), when nothing else is in them.
            var parent = Substring(relative)
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                guard unlinkat(home.raw, String(parent), AT_REMOVEDIR) == 0 else { break }
            }
        }
    }
}
