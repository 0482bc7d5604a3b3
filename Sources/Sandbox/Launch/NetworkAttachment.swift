/// Something that captures a sandbox's network once its namespaces exist and before anything
/// runs inside (the network guard). The Sandbox module knows only this seam; the guard lives
/// in NetGuard, above it.
public protocol NetworkAttachment: AnyObject {
    /// Called after the sandbox's ids are mapped and before it may start: `pid` is its pid 1
    /// (alive and waiting), `hostIDs` the range of host ids it owns (nil: only the caller's).
    func attach(pid: Int32, runID: String, hostIDs: ClosedRange<UInt32>?) throws(SandboxError)
    /// Called once the sandbox has ended: records the sockets seccomp refused (raw, packet),
    /// stops capturing and returns the totals.
    func detach(refusedSockets: [RunManifest.RefusedSocket]) -> RunManifest.NetworkSummary?
}
