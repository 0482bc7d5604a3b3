import CCap
import CWardenShim
import Glibc
import WardenSystem

/// Turns what the supervisor saw into Warden's exit status, its one-line message and the
/// manifest's record of the ending (OOM kill, pids limit, timeout each reported as such).
struct RunOutcomeBuilder {
    var manifest: RunManifest
    let mounts: MountPlan
    let landlock: LandlockPlan?
    let cgroup: SandboxCgroup?
    let timeoutSeconds: Double?
    let memoryLimit: UInt64
    let pidsLimit: UInt64

    func outcome(for result: SupervisionResult) -> RunOutcome {
        var manifest = self.manifest
        manifest.seccompDenials = result.denials
        manifest.refusedSockets = result.refusedSockets
        if let ready = result.ready { manifest.layers.capabilities = Self.capabilities(from: ready) }
        let stats = cgroup?.stats()
        manifest.peakMemoryBytes = stats?.peakMemoryBytes
        manifest.limits.timeoutSeconds = timeoutSeconds
        manifest.limits.pidsLimitReached = (stats?.pidsLimitHits ?? 0) > 0
        let outOfMemory = (stats?.oomKills ?? 0) > 0
        manifest.limits.outOfMemory = outOfMemory

        func finish(_ status: Int32, _ reason: String, _ message: String?) -> RunOutcome {
            manifest.exit.reason = reason
            var message = message
            if manifest.limits.pidsLimitReached && reason != "setup-failed" {
                let note = "the process limit (\(pidsLimit) pids) was reached"
                message = message.map { "\($0); \(note)" } ?? "warden: \(note)"
            }
            return RunOutcome(exitStatus: status, message: message, manifest: manifest)
        }

        if let failure = result.setupFailure {
            let step = SetupStep.describe(step: failure.step, index: failure.index, plan: mounts, landlock: landlock)
            let text = "warden: sandbox setup failed at \(step): \(errnoDescription(failure.errno))"
            let unavailable = SetupStep.isUnavailableLayer(step: failure.step, errno: failure.errno)
            return finish(unavailable ? WardenExitCode.layerUnavailable : WardenExitCode.setupFailed,
                          unavailable ? "layer-unavailable" : "setup-failed", text)
        }
        if result.timedOut {
            manifest.limits.timedOut = true
            let seconds = timeoutSeconds.map { String($0).hasSuffix(".0") ? String(Int($0)) : String($0) } ?? "?"
            return finish(WardenExitCode.timeout, "timeout", "warden: timed out after \(seconds)s; the sandbox was killed")
        }
        if let errno = result.execFailure {
            let command = manifest.command.first ?? ""
            if errno == ENOENT {
                return finish(WardenExitCode.commandNotFound, "exec-failed", "warden: \(command): command not found in the sandbox")
            }
            return finish(WardenExitCode.commandNotExecutable, "exec-failed", "warden: \(command): cannot execute: \(errnoDescription(errno))")
        }
        if let status = result.workloadStatus {
            let exitCode = (status >> 8) & 0xff, termSignal = status & 0x7f
            if termSignal == 0 {
                manifest.exit.code = exitCode
                return finish(exitCode, "exited", nil)
            }
            manifest.exit.signal = signalName(termSignal)
            if outOfMemory && termSignal == SIGKILL {
                return finish(128 + termSignal, "out-of-memory",
                              "warden: killed by the out-of-memory killer (memory limit \(memoryLimit) bytes)")
            }
            return finish(128 + termSignal, "signaled", nil)
        }
        // pid 1 ended without reporting the workload: it was killed from outside (or by OOM).
        if let exit = result.initExit, exit.code == CLD_KILLED || exit.code == CLD_DUMPED {
            manifest.exit.signal = signalName(exit.status)
            if outOfMemory {
                return finish(128 + SIGKILL, "out-of-memory", "warden: the sandbox was killed by the out-of-memory killer (memory limit \(memoryLimit) bytes)")
            }
            return finish(128 + exit.status, "signaled", "warden: the sandbox was killed by \(signalName(exit.status))")
        }
        return finish(WardenExitCode.internalError, "internal-error", "warden: the sandbox ended without reporting a status")
    }

    static func capabilities(from ready: wd_msg) -> RunManifest.Capabilities {
        let values = withUnsafeBytes(of: ready.value) { Array($0.bindMemory(to: Int64.self)) }
        func names(_ mask: Int64) -> [String] {
            let bits = UInt64(bitPattern: mask)
            return (0..<64).compactMap { cap -> String? in
                guard bits & (1 << UInt64(cap)) != 0 else { return nil }
                guard let raw = cap_to_name(cap_value_t(cap)) else { return "cap_\(cap)" }
                defer { cap_free(raw) }
                return String(cString: raw)
            }
        }
        let ids = UInt64(bitPattern: values[Int(WD_READY_UID_GID)])
        let effective: [String] = names(values[Int(WD_READY_CAP_EFFECTIVE)])
        let permitted: [String] = names(values[Int(WD_READY_CAP_PERMITTED)])
        let inheritable: [String] = names(values[Int(WD_READY_CAP_INHERITABLE)])
        let bounding: [String] = names(values[Int(WD_READY_CAP_BOUNDING)])
        let ambient: [String] = names(values[Int(WD_READY_CAP_AMBIENT)])
        let securebits: String = "0x" + String(values[Int(WD_READY_SECUREBITS)], radix: 16)
        let noNewPrivs: Bool = values[Int(WD_READY_NO_NEW_PRIVS)] == 1
        return RunManifest.Capabilities(
            effective: effective, permitted: permitted, inheritable: inheritable, bounding: bounding, ambient: ambient,
            securebits: securebits, noNewPrivs: noNewPrivs,
            uid: UInt32(truncatingIfNeeded: ids >> 32), gid: UInt32(truncatingIfNeeded: ids))
    }
}
