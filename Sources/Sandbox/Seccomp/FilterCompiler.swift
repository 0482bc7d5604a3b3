import CSeccomp
import CWardenShim
import Glibc
import WardenSystem

/// A classic BPF program ready for seccomp(2): 8-byte `sock_filter` instructions.
public struct CompiledFilter: Sendable {
    public let instructions: [UInt64]
    public let ruleCount: Int

    public var byteCount: Int { instructions.count * 8 }
}

/// Compiles a `FilterPlan` with libseccomp in the parent; the child loads the exported program
/// with a single seccomp(2) call (no libseccomp between clone and exec).
public enum FilterCompiler {
    public static func compile(_ plan: FilterPlan) throws(SandboxError) -> CompiledFilter {
        let fallback: UInt32
        switch plan.fallback {
        case .notify: fallback = wd_scmp_act_notify()
        case .action(let action): fallback = libseccompAction(action)
        }
        guard let ctx = seccomp_init(fallback) else {
            throw SandboxError(.setupFailed, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        // Foreign architectures (i386 via int 0x80, x32) are denials the supervisor counts.
        try attribute(ctx, SCMP_FLTATR_ACT_BADARCH, wd_scmp_act_notify(), "bad-arch action")
        try attribute(ctx, SCMP_FLTATR_CTL_NNP, 0, "no_new_privs attribute")
        try attribute(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2, "binary-tree optimisation")

        for (nr, region) in plan.allowed.sorted(by: { $0.key < $1.key }) {
            for conjunction in region.conjunctions {
                try add(ctx, wd_scmp_act_allow(), nr, conjunction)
            }
        }
        for (nr, action) in plan.terminal.sorted(by: { $0.key < $1.key }) where libseccompAction(action) != fallback {
            try add(ctx, libseccompAction(action), nr, [])
        }
        return CompiledFilter(instructions: try export(ctx), ruleCount: plan.ruleCount)
    }

    static func libseccompAction(_ action: SeccompAction) -> UInt32 {
        switch action {
        case .allow: return wd_scmp_act_allow()
        case .log: return wd_scmp_act_log()
        case .errno(let code): return wd_scmp_act_errno(code)
        case .trace(let code): return wd_scmp_act_trace(code)
        case .trap: return wd_scmp_act_trap()
        case .killThread: return wd_scmp_act_kill_thread()
        case .killProcess: return wd_scmp_act_kill_process()
        }
    }

    private static func attribute(_ ctx: scmp_filter_ctx, _ attr: scmp_filter_attr, _ value: UInt32, _ what: String) throws(SandboxError) {
        let rc = seccomp_attr_set(ctx, attr, value)
        if rc != 0 { throw SandboxError(.setupFailed, "libseccomp: cannot set \(what): \(errnoDescription(-rc))") }
    }

    private static func add(_ ctx: scmp_filter_ctx, _ action: UInt32, _ nr: Int32, _ conditions: [ArgumentCondition]) throws(SandboxError) {
        var comparisons = conditions.map { condition -> scmp_arg_cmp in
            var cmp = scmp_arg_cmp()
            cmp.arg = UInt32(condition.index)
            switch condition.op {
            case .notEqual: cmp.op = SCMP_CMP_NE
            case .lessThan: cmp.op = SCMP_CMP_LT
            case .lessOrEqual: cmp.op = SCMP_CMP_LE
            case .equal: cmp.op = SCMP_CMP_EQ
            case .greaterOrEqual: cmp.op = SCMP_CMP_GE
            case .greaterThan: cmp.op = SCMP_CMP_GT
            case .maskedEqual: cmp.op = SCMP_CMP_MASKED_EQ
            }
            cmp.datum_a = condition.value
            cmp.datum_b = condition.valueTwo
            return cmp
        }
        let rc = comparisons.withUnsafeMutableBufferPointer {
            seccomp_rule_add_array(ctx, action, nr, UInt32($0.count), $0.baseAddress)
        }
        if rc != 0 {
            let name = SyscallTable.name(of: nr) ?? "#\(nr)"
            throw SandboxError(.setupFailed, "libseccomp: cannot add rule for \(name): \(errnoDescription(-rc))")
        }
    }

    private static func export(_ ctx: scmp_filter_ctx) throws(SandboxError) -> [UInt64] {
        let fd = wd_memfd("warden-seccomp")
        guard fd >= 0 else { throw SandboxError.setup("memfd_create", .current("memfd_create")) }
        let owned = FileDescriptor(fd)
        let rc = seccomp_export_bpf(ctx, fd)
        if rc != 0 { throw SandboxError(.setupFailed, "libseccomp: export failed: \(errnoDescription(-rc))") }
        lseek(fd, 0, SEEK_SET)
        let bytes: [UInt8]
        do throws(SystemError) { bytes = try owned.readAll() } catch { throw SandboxError.setup("read seccomp program", error) }
        guard bytes.count % 8 == 0, bytes.count / 8 <= 4096 else {
            throw SandboxError(.setupFailed, "seccomp program has \(bytes.count / 8) instructions (kernel limit 4096)")
        }
        return stride(from: 0, to: bytes.count, by: 8).map { offset in
            var word: UInt64 = 0
            for i in 0..<8 { word |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
            return word
        }
    }
}
