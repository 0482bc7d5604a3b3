import FoundationEssentials
import Glibc
import Policy
import Sandbox
import WardenSystem

/// The disk state an environment's `install` left, kept so the next agent with the same inputs
/// starts without running it again. One directory per key under `<home>/snapshots` (root 0700):
/// a layer per overlaid directory (`<name>/upper`, `<name>/work`) and `snapshot.json`. A layer's
/// files belong to the id range of the sandbox that wrote them (`idBase`); later sandboxes see
/// them through an idmapped mount with the same owners. Where the policy honours
/// `agentCanUpdateSnapshot`, agents that finished add layers of their own on top (`updates`),
/// each a directory `<key>-<16 hex>` beside the snapshot's.
public struct EnvironmentSnapshot: Codable, Sendable, Equatable {
    public var key: String
    public var idBase: UInt32
    public var created: Int64
    public var agent: String
    public var installMilliseconds: Int64
    /// Whether `install` built the base (false: the base is empty, made for agents' updates).
    public var installed = true
    /// Layers agents added, newest first.
    public var updates: [Update] = []

    /// A layer an agent left in $HOME (agentCanUpdateSnapshot), kept after it finished.
    public struct Update: Codable, Sendable, Equatable {
        /// Its directory's name under `<home>/snapshots`.
        public var directory: String
        public var idBase: UInt32
        public var agent: String
        public var created: Int64
    }

    /// At most this many agents' layers: each is an overlay layer of every later sandbox.
    static let maximumUpdates = 8

    init(key: String, idBase: UInt32, created: Int64, agent: String, installMilliseconds: Int64, installed: Bool = true) {
        self.key = key
        self.idBase = idBase
        self.created = created
        self.agent = agent
        self.installMilliseconds = installMilliseconds
        self.installed = installed
    }

    enum CodingKeys: String, CodingKey { case key, idBase, created, agent, installMilliseconds, installed, updates }

    /// Snapshots kept before agents could add layers decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        key = try container.decode(String.self, forKey: .key)
        idBase = try container.decode(UInt32.self, forKey: .idBase)
        created = try container.decode(Int64.self, forKey: .created)
        agent = try container.decode(String.self, forKey: .agent)
        installMilliseconds = try container.decode(Int64.self, forKey: .installMilliseconds)
        installed = try container.decodeIfPresent(Bool.self, forKey: .installed) ?? true
        updates = try container.decodeIfPresent([Update].self, forKey: .updates) ?? []
    }

    /// A directory the install may change, where it is overlaid, and what lies beneath it.
    struct Target {
        enum Beneath {
            /// Nothing of the host.
            case none
            /// A host directory of public system files (its system ids shown as the sandbox's).
            case host(String)
            /// Warden's world-readable copy of parts of the host's /etc (`SnapshotBaseEtc`).
            case baseEtc
        }

        var name: String
        var path: String
        var beneath: Beneath
        var sandboxViewOnTop = false
    }

    /// System directories and $HOME: what package managers and real `install` scripts write.
    /// Beneath them only what holds no secret: /usr and the package database, and for /etc a
    /// filtered copy (the sandbox's generated files stay on top). /opt, debconf's cache (its
    /// passwords.dat) and logs start empty.
    static let targets: [Target] = [
        Target(name: "usr", path: "/usr", beneath: .host("/usr")),
        Target(name: "etc", path: "/etc", beneath: .baseEtc, sandboxViewOnTop: true),
        Target(name: "opt", path: "/opt", beneath: .none),
        Target(name: "var-lib-dpkg", path: "/var/lib/dpkg", beneath: .host("/var/lib/dpkg")),
        Target(name: "var-lib-apt", path: "/var/lib/apt", beneath: .host("/var/lib/apt")),
        Target(name: "var-cache-apt", path: "/var/cache/apt", beneath: .host("/var/cache/apt")),
        Target(name: "var-cache-debconf", path: "/var/cache/debconf", beneath: .none),
        Target(name: "var-log", path: "/var/log", beneath: .none),
        Target(name: "home", path: GeneratedEtc.agentHome, beneath: .none),
    ]

    /// Lock files whose content decides what `install` fetches.
    static let lockFiles = ["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "requirements.txt",
                            "requirements-dev.txt", "poetry.lock", "Pipfile.lock", "uv.lock", "Cargo.lock", "go.sum", "Gemfile.lock",
                            "composer.lock", "mix.lock", "pubspec.lock"]

    /// The key: the base system (os-release, the package database), the environment file, the
    /// repository's lock files, the policy's network and sandbox sections, the repository and
    /// its owner (secrets reach `install`, so a snapshot is never shared between people).
    static func key(environmentText: String, workspace: FileDescriptor, policy: OrgPolicy, repository: String, owner: String) -> String {
        var material: [UInt8] = Array("warden-snapshot-v1\0".utf8)
        func add(_ label: String, _ bytes: [UInt8]) { material += Array("\(label)\0\(bytes.count)\0".utf8) + bytes }
        add("os-release", (try? Files.read("/etc/os-release", limit: 1 << 16)) ?? [])
        add("dpkg-status", Array(SHA256.hex((try? Files.read("/var/lib/dpkg/status", limit: 64 << 20)) ?? []).utf8))
        add("environment", Array(environmentText.utf8))
        for name in lockFiles {
            guard let file = try? FileDescriptor.open(at: workspace.raw, name, O_RDONLY | O_NONBLOCK,
                                                      resolve: [.beneath, .noSymlinks, .noMagicLinks, .noCrossingMounts]),
                  let bytes = try? file.readAll(limit: 64 << 20) else { continue }
            add("lock:" + name, Array(SHA256.hex(bytes).utf8))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        add("network", Array((try? encoder.encode(policy.network)) ?? Data()))
        add("sandbox", Array((try? encoder.encode(policy.sandbox)) ?? Data()))
        add("repository", Array(repository.utf8))
        add("owner", Array(owner.utf8))
        return SHA256.hex(material)
    }
}

/// Where snapshots live and how one is found, built and published.
struct SnapshotStore {
    let root: String

    init(home: String) {
        root = home + "/snapshots"
    }

    func directory(_ key: String) -> String { root + "/" + key }

    /// The published snapshot for `key`, if any.
    func find(_ key: String) -> EnvironmentSnapshot? {
        guard let bytes = try? Files.read(directory(key) + "/snapshot.json", limit: 1 << 16),
              let snapshot = try? JSONDecoder().decode(EnvironmentSnapshot.self, from: Data(bytes)), snapshot.key == key else { return nil }
        return snapshot
    }

    /// A fresh directory to build into (root 0700), with a directory per layer.
    func makeBuilding() throws(SystemError) -> String {
        try AgentLayout.directory(root, mode: 0o700, uid: 0, gid: 0)
        let path = root + "/.building-" + hexString(Host.randomBytes(8))
        try AgentLayout.directory(path, mode: 0o700, uid: 0, gid: 0, mustBeNew: true)
        for target in EnvironmentSnapshot.targets {
            try AgentLayout.directory(path + "/" + target.name, mode: 0o755, uid: 0, gid: 0, mustBeNew: true)
        }
        try SnapshotBaseEtc.copy(into: path + "/" + Self.baseEtc)
        return path
    }

    /// Publishes a built snapshot under its key (atomically: a rename). When another agent
    /// published the same key meanwhile, that one is kept and this one removed.
    func publish(_ building: String, _ snapshot: EnvironmentSnapshot) throws(SystemError) -> EnvironmentSnapshot {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(snapshot) else { throw SystemError(errno: EINVAL, step: "encode snapshot.json") }
        try Files.writeAtomically(building + "/snapshot.json", Array(data), mode: 0o600)
        if rename(building, directory(snapshot.key)) != 0 {
            let error = errno
            try? RetentionSweep.removeTree(building)
            if let existing = find(snapshot.key) { return existing }
            throw SystemError(errno: error, step: "rename(\(building), \(directory(snapshot.key)))")
        }
        return snapshot
    }

    /// Marks a snapshot used now: the retention sweep keeps it for `retention.agentData` after
    /// its last use.
    func touch(_ key: String, now: Int64) {
        try? Files.writeAtomically(directory(key) + "/last-used", Array(String(now).utf8), mode: 0o600)
    }

    /// When a snapshot was last used (ms since the epoch): its last-used mark, else its creation.
    func lastUsed(_ key: String) -> Int64? {
        if let text = try? Files.readText(directory(key) + "/last-used", limit: 64), let time = Int64(text) { return time }
        return find(key)?.created
    }

    /// Removes snapshots unused for longer than the policy's `retention.agentData` (with the
    /// layers agents added to them), agents' layers no snapshot names any more (another agent's
    /// layer replaced them), and builds a crashed owner left behind (older than a day). Each
    /// goes by a rename first, so no agent starts on half a snapshot. Returns the keys removed
    /// and what failed. `inUse`: keys and builds of agents that have not ended, never removed.
    func sweep(policy: OrgPolicy, now: Int64, dryRun: Bool, inUse: Set<String> = []) -> (removed: [String], failures: [String]) {
        var removed: [String] = [], failures: [String] = []
        let evaluator = PolicyEvaluator(policy)
        let names = Files.listDirectory(root)
        var expiredKeys: Set<String> = []
        for name in names {
            let expired: Bool
            if name.hasPrefix(".building-") {
                let age = Files.lstat(root + "/" + name).map { now / 1000 - Int64($0.st_mtim.tv_sec) } ?? 0
                expired = age > 86_400
            } else if Self.isKey(name), let used = lastUsed(name) {
                expired = evaluator.isExpired(RetainedRecord(kind: .agentData, since: used / 1000), now: now / 1000).allowed
            } else {
                continue
            }
            guard expired, !inUse.contains(name) else { continue }
            if Self.isKey(name) { expiredKeys.insert(name) }
            if dryRun {
                removed.append(name)
                continue
            }
            do {
                try remove(name)
                removed.append(name)
            } catch {
                failures.append("snapshot \(name.prefix(12)): \(error.description)")
            }
        }
        // Agents' layers: with their snapshot, or once it no longer names them.
        for name in names where Self.isUpdate(name) {
            let key = String(name.prefix(64))
            guard !inUse.contains(key) else { continue }
            guard expiredKeys.contains(key) || !(find(key)?.updates.contains { $0.directory == name } ?? false) else { continue }
            if dryRun { continue }
            do { try remove(name) } catch { failures.append("snapshot layer \(name.prefix(12)): \(error.description)") }
        }
        return (removed, failures)
    }

    /// Renamed aside first (nobody starts on it any more), then removed.
    private func remove(_ name: String) throws(SystemError) {
        let doomed = root + "/.removing-" + name
        try check("rename(\(name))") { rename(root + "/" + name, doomed) }
        try RetentionSweep.removeTree(doomed)
    }

    static func isKey(_ name: String) -> Bool { name.utf8.count == 64 && name.utf8.allSatisfy { isxdigit(Int32($0)) != 0 } }

    /// `<key>-<16 hex>`: a layer an agent added.
    static func isUpdate(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && isKey(String(parts[0])) && parts[1].utf8.count == 16 && parts[1].utf8.allSatisfy { isxdigit(Int32($0)) != 0 }
    }

    /// The overlays a sandbox gets: with `building`, every target writable into it (install);
    /// with a published snapshot, its non-empty layers read-only, $HOME writable and discarded.
    static let baseEtc = "etc-base"

    static func overlays(building: String) -> [OverlayRequest] {
        EnvironmentSnapshot.targets.map { target in
            OverlayRequest(target: target.path, host: beneath(target, snapshot: building), upper: .directory(building + "/" + target.name),
                           sandboxViewOnTop: target.sandboxViewOnTop)
        }
    }

    /// What an agent's sandbox gets from `snapshot` (nil: none yet), its base at `base` (else
    /// where it is published): each directory's non-empty layers read-only, agents' layers on
    /// top of install's; $HOME writable, its changes discarded, or kept in `updating`, which
    /// becomes the snapshot's next layer (agentCanUpdateSnapshot).
    func overlays(for snapshot: EnvironmentSnapshot?, base: String? = nil, updating: String? = nil) -> [OverlayRequest] {
        EnvironmentSnapshot.targets.compactMap { target in
            var layers: [OverlayRequest.Layer] = []
            var beneath: String?
            if let snapshot {
                let baseDirectory = base ?? directory(snapshot.key)
                let candidates = snapshot.updates.map { (root + "/" + $0.directory, $0.idBase) } + [(baseDirectory, snapshot.idBase)]
                for (directory, idBase) in candidates where !Files.listDirectory(directory + "/" + target.name + "/upper").isEmpty {
                    layers.append(OverlayRequest.Layer(path: directory + "/" + target.name + "/upper", idBase: idBase))
                }
                beneath = Self.beneath(target, snapshot: baseDirectory)
            }
            let home = target.path == GeneratedEtc.agentHome
            guard !layers.isEmpty || (home && updating != nil) else { return nil }
            let upper: OverlayRequest.Upper = home ? updating.map { .agentDirectory($0 + "/home") } ?? .scratch(mode: 0o700) : .none
            return OverlayRequest(target: target.path, layers: layers, host: beneath, upper: upper, sandboxViewOnTop: target.sandboxViewOnTop)
        }
    }

    private static func beneath(_ target: EnvironmentSnapshot.Target, snapshot: String) -> String? {
        let path: String
        switch target.beneath {
        case .none: return nil
        case .host(let directory): path = directory
        case .baseEtc: path = snapshot + "/" + baseEtc
        }
        guard let st = Files.lstat(path), (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return path
    }

    /// $HOME is the agent's: what the install's root left there is given to the agent user
    /// (same range, id 1000), walking by descriptor without following links.
    static func giveHomeToAgent(_ building: String, idBase: UInt32) throws(SystemError) {
        let home = try FileDescriptor.open(building + "/home/upper", O_RDONLY | O_DIRECTORY, resolve: .noLinks)
        try chownTree(home, from: idBase, to: idBase + IdentityPlan.agentID, depth: 0)
    }

    private static func chownTree(_ directory: FileDescriptor, from: UInt32, to: UInt32, depth: Int) throws(SystemError) {
        guard depth < 256 else { throw SystemError(errno: ELOOP, step: "give $HOME to the agent: nested deeper than 256 directories") }
        var st = stat()
        try check("fstat($HOME entry)") { fstat(directory.raw, &st) }
        if st.st_uid == from { try check("chown($HOME entry)") { fchown(directory.raw, to, st.st_gid == from ? to : st.st_gid) } }
        for name in Files.listDirectory(directory) {
            try check("stat(\(name))") { fstatat(directory.raw, name, &st, AT_SYMLINK_NOFOLLOW) }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                let child = FileDescriptor(try check("open(\(name))") { openat(directory.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) })
                try chownTree(child, from: from, to: to, depth: depth + 1)
            } else if st.st_uid == from {
                try check("chown(\(name))") { fchownat(directory.raw, name, to, st.st_gid == from ? to : st.st_gid, AT_SYMLINK_NOFOLLOW) }
            }
        }
    }
}
