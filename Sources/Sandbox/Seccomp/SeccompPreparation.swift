import Glibc
import WardenSystem

/// The two programs a sandbox loads: the baseline on its own, then the profile with the
/// baseline intersected in (which carries the listener).
public struct PreparedSeccomp: Sendable {
    public let main: CompiledFilter
    public let baseline: CompiledFilter
    public let ignoredSyscalls: [String]
    public let fromCache: Bool
}

/// Compiles a profile, or loads the result of an earlier compilation of the same bytes.
///
/// Why a cache: intersecting the baseline into a profile and compiling two filters with
/// libseccomp costs milliseconds, several times the rest of the launch. The key covers every
/// input of the compilation (profile bytes, baseline version, architecture, kernel version
/// for `minKernel`, libseccomp version, Warden's own build ID), and the file is checksummed and
/// only loaded from a directory chain no other user can write, so a stale or tampered entry is
/// never loaded.
public enum SeccompPreparation {
    static let magic = Array("WSECCMP2".utf8)

    public static func prepare(profileBytes: [UInt8], profileSHA256: String, source: String, context: FilterPlan.Context,
                               cacheDirectory: String?) throws(SandboxError) -> PreparedSeccomp {
        // Without a build ID there is no safe key: a rebuilt Warden must not load filters another
        // build compiled.
        let cacheDirectory = Host.buildID == nil ? nil : cacheDirectory
        let key = cacheKey(profileSHA256: profileSHA256, context: context)
        let path = cacheDirectory.map { "\($0)/\(key).bpf" }
        if let cacheDirectory, let path, Files.isPrivateChain(cacheDirectory, uid: getuid()), let cached = load(path) { return cached }

        let profile = try SeccompProfile.parse(profileBytes, source: source)
        let resolved = try ResolvedProfile.resolve(profile, context: context, source: source)
        let plan = try FilterPlan.build(resolved, source: source)
        let baselinePlan = try FilterPlan.baselineOnly(context: context)
        let prepared = PreparedSeccomp(main: try FilterCompiler.compile(plan), baseline: try FilterCompiler.compile(baselinePlan),
                                       ignoredSyscalls: resolved.unknownNames, fromCache: false)
        if let cacheDirectory, let path, (try? WardenPaths.ensurePrivateDirectory(cacheDirectory)) != nil {
            try? Files.writeAtomically(path, serialize(prepared), mode: 0o600)
            prune(cacheDirectory, keep: 32)
        }
        return prepared
    }

    /// Keys change with every build and profile: keep only the most recently written entries.
    static func prune(_ directory: String, keep: Int) {
        let entries = Files.listDirectory(directory).filter { $0.hasSuffix(".bpf") }.compactMap { name -> (String, Int)? in
            guard let st = Files.lstat(directory + "/" + name), (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (name, st.st_mtim.tv_sec)
        }
        guard entries.count > keep else { return }
        for (name, _) in entries.sorted(by: { $0.1 > $1.1 }).dropFirst(keep) { unlink(directory + "/" + name) }
    }

    public static func cacheKey(profileSHA256: String, context: FilterPlan.Context) -> String {
        let text = "profile=\(profileSHA256);baseline=\(SeccompBaseline.version);arch=\(context.goArch);"
            + "kernel=\(context.kernel.0).\(context.kernel.1);caps=\(context.capabilities.sorted().joined(separator: ","));"
            + "libseccomp=\(SyscallTable.libraryVersion);format=\(String(decoding: magic, as: UTF8.self));build=\(Host.buildID ?? "none")"
        return SHA256.hex(Array(text.utf8))
    }

    // MARK: - File format: magic, counts, names, programs, SHA-256 of all that.

    static func serialize(_ prepared: PreparedSeccomp) -> [UInt8] {
        var out = magic
        func u32(_ value: Int) { for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> shift)) } }
        u32(prepared.main.ruleCount)
        u32(prepared.baseline.ruleCount)
        u32(prepared.main.instructions.count)
        u32(prepared.baseline.instructions.count)
        u32(prepared.ignoredSyscalls.count)
        for name in prepared.ignoredSyscalls {
            let bytes = Array(name.utf8.prefix(255))
            out.append(UInt8(bytes.count))
            out += bytes
        }
        for word in prepared.main.instructions + prepared.baseline.instructions {
            for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        var hasher = SHA256()
        hasher.update(out)
        return out + hasher.finish()
    }

    static func load(_ path: String) -> PreparedSeccomp? {
        guard let st = Files.lstat(path), (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(), st.st_mode & 0o077 == 0,
              let bytes = try? Files.read(path, limit: 1 << 20) else { return nil }
        return deserialize(bytes)
    }

    static func deserialize(_ bytes: [UInt8]) -> PreparedSeccomp? {
        guard bytes.count > magic.count + 20 + 32, Array(bytes[0..<magic.count]) == magic else { return nil }
        let body = Array(bytes[0..<(bytes.count - 32)])
        var hasher = SHA256()
        hasher.update(body)
        guard hasher.finish() == Array(bytes[(bytes.count - 32)...]) else { return nil }
        var offset = magic.count
        func u32() -> Int? {
            guard offset + 4 <= body.count else { return nil }
            defer { offset += 4 }
            return (0..<4).reduce(0) { $0 | Int(body[offset + $1]) << (8 * $1) }
        }
        guard let mainRules = u32(), let baselineRules = u32(), let mainCount = u32(), let baselineCount = u32(),
              let ignoredCount = u32(), mainCount <= 4096, baselineCount <= 4096, ignoredCount < 4096 else { return nil }
        var ignored: [String] = []
        for _ in 0..<ignoredCount {
            guard offset < body.count else { return nil }
            let length = Int(body[offset])
            offset += 1
            guard offset + length <= body.count else { return nil }
            ignored.append(String(decoding: body[offset..<offset + length], as: UTF8.self))
            offset += length
        }
        guard offset + (mainCount + baselineCount) * 8 == body.count else { return nil }
        var words: [UInt64] = []
        words.reserveCapacity(mainCount + baselineCount)
        for index in 0..<(mainCount + baselineCount) {
            let start = offset + index * 8
            words.append((0..<8).reduce(UInt64(0)) { $0 | UInt64(body[start + $1]) << UInt64(8 * $1) })
        }
        return PreparedSeccomp(main: CompiledFilter(instructions: Array(words[0..<mainCount]), ruleCount: mainRules),
                               baseline: CompiledFilter(instructions: Array(words[mainCount...]), ruleCount: baselineRules),
                               ignoredSyscalls: ignored, fromCache: true)
    }
}

/// Builds the denial resolver only when the first denial arrives: most runs have none, and a
/// cached filter means the profile was not even parsed.
final class LazyDenialResolver {
    private let bytes: [UInt8]
    private let source: String
    private let context: FilterPlan.Context
    private var resolver: DenialResolver?

    init(bytes: [UInt8], source: String, context: FilterPlan.Context) {
        self.bytes = bytes
        self.source = source
        self.context = context
    }

    func errno(nr: Int32, arch: UInt32, args: [UInt64]) -> Int32 {
        if resolver == nil, let profile = try? SeccompProfile.parse(bytes, source: source),
           let resolved = try? ResolvedProfile.resolve(profile, context: context, source: source) {
            resolver = DenialResolver(profile: resolved)
        }
        return resolver?.errno(nr: nr, arch: arch, args: args) ?? EPERM
    }
}
