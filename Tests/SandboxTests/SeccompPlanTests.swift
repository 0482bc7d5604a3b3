import Foundation
import Glibc
@testable import Sandbox
import Testing

/// Profiles, the baseline stacked on them, and the errno answers — on the shipped default
/// profile and on Docker's real profile (../shared/compat).
@Suite("seccomp profiles and the baseline")
struct SeccompPlanTests {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func profile(_ path: String) throws -> SeccompProfile {
        let data = try #require(FileManager.default.contents(atPath: path), "\(path)")
        return try SeccompProfile.parse(Array(data), source: path)
    }

    static var dockerPath: String { repository + "/../shared/compat/docker-seccomp-default.json" }
    static var defaultPath: String { repository + "/policies/seccomp/default.json" }
    static let context = FilterPlan.Context(goArch: "amd64", kernel: (6, 18))

    static func nr(_ name: String) throws -> Int32 { try #require(SyscallTable.number(of: name)) }

    @Test("Docker's profile parses with every field it uses")
    func dockerParses() throws {
        let profile = try Self.profile(Self.dockerPath)
        #expect(profile.defaultAction == .errno(1))
        #expect(profile.architectures.contains("SCMP_ARCH_X86"))
        #expect(profile.rules.contains { !$0.includes.caps.isEmpty })
        #expect(profile.rules.contains { $0.includes.minKernel != nil })
    }

    @Test("conditions on capabilities, architectures and kernels are evaluated for an empty capability set")
    func conditionalRules() throws {
        let resolved = try ResolvedProfile.resolve(try Self.profile(Self.dockerPath), context: Self.context, source: "docker")
        let names = Set(resolved.rules.map(\.name))
        #expect(!names.contains("reboot"), "needs CAP_SYS_BOOT")
        #expect(names.contains("arch_prctl"), "amd64 rule applies")
        #expect(!names.contains("s390_pci_mmio_read"), "s390 rule does not")
        #expect(resolved.rules.contains { $0.name == "clone3" && $0.action == .errno(38) }, "excludes CAP_SYS_ADMIN applies")
        let old = try ResolvedProfile.resolve(try Self.profile(Self.dockerPath), context: .init(goArch: "amd64", kernel: (4, 4)), source: "docker")
        #expect(!old.rules.contains { $0.name == "ptrace" }, "minKernel 4.8 is not met on 4.4")
    }

    @Test("the baseline refuses what Docker's profile allows (R8)", arguments: ["ptrace", "process_vm_readv", "io_uring_setup", "openat2", "name_to_handle_at"])
    func baselineOverDocker(_ name: String) throws {
        let plan = try FilterPlan.build(profile: try Self.profile(Self.dockerPath), context: Self.context, source: "docker")
        #expect(plan.allowed[try Self.nr(name)] == nil)
    }

    @Test("Docker's AF_VSOCK rule compares 64 bits; the stacked baseline closes the upper-bits bypass")
    func vsockUpperBits() throws {
        let plan = try FilterPlan.build(profile: try Self.profile(Self.dockerPath), context: Self.context, source: "docker")
        let socket = try #require(plan.allowed[try Self.nr("socket")])
        #expect(socket.matches([2, 1, 0, 0, 0, 0]), "AF_INET allowed")
        #expect(!socket.matches([40, 1, 0, 0, 0, 0]))
        #expect(!socket.matches([40 | (1 << 32), 1, 0, 0, 0, 0]), "AF_VSOCK with upper bits")
        #expect(!socket.matches([17, 3, 0, 0, 0, 0]), "AF_PACKET")
        #expect(socket.matches([16, 3, 0, 0, 0, 0]), "NETLINK_ROUTE")
        #expect(!socket.matches([16, 3, 9, 0, 0, 0]), "NETLINK_AUDIT")
    }

    @Test("clone with namespace flags, TIOCSTI and set-id modes are outside every allowed region", arguments: ["default", "docker"])
    func restrictedArguments(_ which: String) throws {
        let path = which == "default" ? Self.defaultPath : Self.dockerPath
        let plan = try FilterPlan.build(profile: try Self.profile(path), context: Self.context, source: which)
        let clone = try #require(plan.allowed[try Self.nr("clone")])
        #expect(clone.matches([0x0011_0000 | 17, 0, 0, 0, 0, 0]), "a thread or fork")
        #expect(!clone.matches([0x1000_0000 | 17, 0, 0, 0, 0, 0]), "CLONE_NEWUSER")
        let ioctl = try #require(plan.allowed[try Self.nr("ioctl")])
        #expect(ioctl.matches([0, 0x5401, 0, 0, 0, 0]), "TCGETS")
        #expect(!ioctl.matches([0, 0x5412, 0, 0, 0, 0]))
        #expect(!ioctl.matches([0, 0x1_0000_5412, 0, 0, 0, 0]), "CVE-2019-10063")
        let chmod = try #require(plan.allowed[try Self.nr("chmod")])
        #expect(chmod.matches([0, 0o755, 0, 0, 0, 0]))
        #expect(!chmod.matches([0, 0o4755, 0, 0, 0, 0]))
        let openat = try #require(plan.allowed[try Self.nr("openat")])
        #expect(openat.matches([0, 0, 0o100, 0o644, 0, 0]))
        #expect(openat.matches([0, 0, 0, 0o4755, 0, 0]), "mode is ignored without O_CREAT")
        #expect(!openat.matches([0, 0, 0o100, 0o4755, 0, 0]))
    }

    @Test("denials get the errno the profile and baseline ask for")
    func errnoAnswers() throws {
        let resolved = try ResolvedProfile.resolve(try Self.profile(Self.dockerPath), context: Self.context, source: "docker")
        let resolver = DenialResolver(profile: resolved)
        let native = SyscallTable.nativeArch
        #expect(resolver.errno(nr: try Self.nr("clone3"), arch: native, args: [0, 0, 0, 0, 0, 0]) == ENOSYS)
        #expect(resolver.errno(nr: try Self.nr("openat2"), arch: native, args: [0, 0, 0, 0, 0, 0]) == ENOSYS)
        #expect(resolver.errno(nr: try Self.nr("ptrace"), arch: native, args: [0, 0, 0, 0, 0, 0]) == EPERM)
        #expect(resolver.errno(nr: try Self.nr("reboot"), arch: native, args: [0, 0, 0, 0, 0, 0]) == EPERM, "the profile's default")
        #expect(resolver.errno(nr: 20, arch: 0x4000_0003, args: [0, 0, 0, 0, 0, 0]) == EPERM, "i386")
    }

    @Test("a deny-list profile (default allow) still gets the baseline")
    func defaultAllowProfile() throws {
        let profile = SeccompProfile(defaultAction: .allow, rules: [SeccompRule(names: ["mkdir"], action: .errno(13))])
        let plan = try FilterPlan.build(profile: profile, context: Self.context, source: "test")
        #expect(plan.allowed[try Self.nr("mkdir")] == nil)
        #expect(plan.allowed[try Self.nr("read")]?.isEverything == true)
        #expect(plan.allowed[try Self.nr("ptrace")] == nil)
        #expect(plan.allowed[try Self.nr("bpf")] == nil)
    }

    @Test("malformed profiles are refused with a precise message", arguments: [
        ("{", "not valid JSON"),
        ("{}", "missing \"defaultAction\""),
        (#"{"defaultAction": "SCMP_ACT_BOGUS"}"#, "is not a seccomp action"),
        (#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, "SCMP_ACT_NOTIFY is not supported"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}"#, "listenerPath is not supported"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}"#, "names no syscall"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#, "index must be 0...5"),
        (#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}]}"#, "is unknown"),
    ])
    func malformed(_ text: String, _ message: String) {
        do {
            _ = try SeccompProfile.parse(Array(text.utf8), source: "test.json")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test("a conditional kill rule is refused rather than silently changed")
    func conditionalKill() throws {
        let profile = SeccompProfile(defaultAction: .errno(1), rules: [
            SeccompRule(names: ["read"], action: .allow),
            SeccompRule(names: ["write"], action: .killProcess, conditions: [.init(index: 0, op: .equal, value: 5)]),
        ])
        #expect(throws: SandboxError.self) { try FilterPlan.build(profile: profile, context: Self.context, source: "test") }
    }

    @Test("both programs compile within the kernel's limit, and the cache round-trips and rejects corruption")
    func compileAndCache() throws {
        let bytes = Array(try #require(FileManager.default.contents(atPath: Self.defaultPath)))
        let prepared = try SeccompPreparation.prepare(profileBytes: bytes, profileSHA256: "test", source: "default", context: Self.context, cacheDirectory: nil)
        #expect(prepared.main.instructions.count > 100 && prepared.main.instructions.count <= 4096)
        #expect(prepared.baseline.instructions.count > 100 && prepared.baseline.instructions.count <= 4096)
        var serialized = SeccompPreparation.serialize(prepared)
        let loaded = try #require(SeccompPreparation.deserialize(serialized))
        #expect(loaded.main.instructions == prepared.main.instructions)
        #expect(loaded.baseline.instructions == prepared.baseline.instructions)
        #expect(loaded.main.ruleCount == prepared.main.ruleCount)
        serialized[serialized.count / 2] ^= 0x40
        #expect(SeccompPreparation.deserialize(serialized) == nil)
        #expect(SeccompPreparation.deserialize(Array(serialized.prefix(40))) == nil)
    }

    @Test("cache keys change with every input of the compilation")
    func cacheKeys() {
        let base = SeccompPreparation.cacheKey(profileSHA256: "a", context: Self.context)
        #expect(base != SeccompPreparation.cacheKey(profileSHA256: "b", context: Self.context))
        #expect(base != SeccompPreparation.cacheKey(profileSHA256: "a", context: .init(goArch: "amd64", kernel: (6, 17))))
        #expect(base != SeccompPreparation.cacheKey(profileSHA256: "a", context: .init(capabilities: ["CAP_SYS_ADMIN"], goArch: "amd64", kernel: (6, 18))))
    }
}
