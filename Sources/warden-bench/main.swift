// `make bench`: Warden's launch cost against bubblewrap and a bare exec, interleaved in one run;
// the peak memory of `warden run -- /bin/true`; and the cost of the seccomp filter on a
// syscall-heavy workload. Prints medians and ratios measured side by side.
import Glibc
import Sandbox
import WardenSystem

struct Options {
    var warden = "warden"
    var bwrap = "/usr/bin/bwrap"
    var runs = 40
    var ddBytes = 150_000
    var egressOnly = false
    var guardOnly = false
    /// Only exfiltration detection's cost (with the test network it needs).
    var detectionOnly = false
    var agentsOnly = false
    var auditOnly = false
    var testnet = "Tests/EscapeTests/Fixtures/net/testnet.py"
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        switch argument {
        case "--warden": options.warden = arguments.next() ?? options.warden
        case "--bwrap": options.bwrap = arguments.next() ?? options.bwrap
        case "--runs": options.runs = Int(arguments.next() ?? "") ?? options.runs
        case "--dd-bytes": options.ddBytes = Int(arguments.next() ?? "") ?? options.ddBytes
        case "--egress-only": options.egressOnly = true
        case "--guard-only": options.guardOnly = true
        case "--detection-only": options.detectionOnly = true
        case "--agents-only": options.agentsOnly = true
        case "--audit-only": options.auditOnly = true
        case "--testnet": options.testnet = arguments.next() ?? options.testnet
        default:
            printError("warden-bench: unknown option \(argument) (options: --warden PATH --bwrap PATH --runs N --dd-bytes N --testnet PATH --egress-only --guard-only --detection-only --agents-only --audit-only)")
            exit(125)
        }
    }
    return options
}

struct Sample {
    var seconds: Double
    var status: Int32
    var maxRSSKiB: Int
    var output: String
}

/// Spawns `argv` with its stdout on a pipe (returned, to read), stderr to /dev/null and stdin
/// from /dev/null; nil with the reason when it cannot start.
func spawnReadingOutput(_ argv: [String]) -> (pid: pid_t, output: Int32)? {
    var pipe: [Int32] = [-1, -1]
    Glibc.pipe(&pipe)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addclose(&actions, pipe[0])
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    close(pipe[1])
    posix_spawn_file_actions_destroy(&actions)
    guard rc == 0 else {
        close(pipe[0])
        printError("warden-bench: cannot start \(argv[0]): \(errnoDescription(rc))")
        return nil
    }
    return (pid, pipe[0])
}

/// Spawns a command (in the current directory, the workspace) with stdout captured, stderr to
/// /dev/null, and times it to its exit.
func measure(_ argv: [String], directory: String) -> Sample {
    let start = monotonicNanoseconds()
    guard let (pid, outputFD) = spawnReadingOutput(argv) else { return Sample(seconds: 0, status: -1, maxRSSKiB: 0, output: "spawn failed") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(outputFD, &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(outputFD)
    var status: Int32 = 0
    var usage = rusage()
    wait4(pid, &status, 0, &usage)
    let elapsed = Double(monotonicNanoseconds() - start) / 1e9
    return Sample(seconds: elapsed, status: status, maxRSSKiB: usage.ru_maxrss, output: String(decoding: output, as: UTF8.self))
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

func ms(_ seconds: Double) -> String {
    let value = (seconds * 10000).rounded() / 10
    return "\(value) ms"
}

func ratio(_ a: Double, _ b: Double) -> String {
    guard b > 0 else { return "n/a" }
    return String(Double(Int((a / b) * 1000)) / 1000)
}

var options = parseOptions()
if options.egressOnly {
    EgressBench.run()
    exit(0)
}
// The fixture and warden are found from the directory the bench was started in.
for path in [\Options.testnet, \Options.warden] where options[keyPath: path].contains("/") && !options[keyPath: path].hasPrefix("/") {
    if let cwd = getcwd(nil, 0) {
        options[keyPath: path] = String(cString: cwd) + "/" + options[keyPath: path]
        free(cwd)
    }
}
let workspaceTemplate = "/tmp/warden-bench.XXXXXX"
var template = Array(workspaceTemplate.utf8CString)
guard let created = mkdtemp(&template) else {
    printError("warden-bench: cannot create a temporary workspace")
    exit(1)
}
let workspace = String(cString: created)
defer { _ = system("rm -rf '\(workspace)'") }
// Every command runs with the workspace as its working directory (warden's default workspace).
chdir(workspace)
if options.detectionOnly {
    GuardBench.runDetectionOnly(warden: options.warden, testnet: options.testnet)
    _ = system("rm -rf '\(workspace)'")
    exit(0)
}
if options.guardOnly {
    GuardBench.run(warden: options.warden, testnet: options.testnet)
    _ = system("rm -rf '\(workspace)'")
    exit(0)
}
if options.auditOnly {
    AuditBench.run(alone: true)
    exit(0)
}
if options.agentsOnly {
    AgentBench.run(warden: options.warden, base: workspace)
    _ = system("rm -rf '\(workspace)'")
    exit(0)
}

// Like for like: bubblewrap's sandbox has an empty network namespace, and so has --net none.
// The guarded launch (network namespace captured by the guard) is measured beside them.
let wardenTrue = [options.warden, "run", "--net", "none", "--", "/bin/true"]
// No DNS query is made by /bin/true; the upstream is named only so the run does not depend on
// the host's resolv.conf.
let guardedTrue = [options.warden, "run", "--net", "allowlist", "--dns-upstream", "127.0.0.1", "--", "/bin/true"]
let bwrapTrue = [options.bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
                 "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                 "--proc", "/proc", "--dev", "/dev", "/bin/true"]
let bareTrue = ["/bin/true"]

// Warm-up: caches (the compiled seccomp profile, page cache) and a sanity check of each command.
for command in [wardenTrue, guardedTrue, bwrapTrue, bareTrue] {
    let sample = measure(command, directory: workspace)
    if sample.status != 0 {
        printError("warden-bench: \(command.joined(separator: " ")) failed (status \(sample.status)) \(sample.output)")
        exit(1)
    }
}

print("Launch of /bin/true, \(options.runs) runs each, interleaved (warden --net none, warden guarded, bwrap, bare)")
var wardenTimes: [Double] = [], guardedTimes: [Double] = [], bwrapTimes: [Double] = [], bareTimes: [Double] = []
var wardenRSS: [Int] = []
for _ in 0..<options.runs {
    let w = measure(wardenTrue, directory: workspace)
    wardenTimes.append(w.seconds)
    wardenRSS.append(w.maxRSSKiB)
    let g = measure(guardedTrue, directory: workspace)
    guardedTimes.append(g.seconds)
    wardenRSS.append(g.maxRSSKiB)
    bwrapTimes.append(measure(bwrapTrue, directory: workspace).seconds)
    bareTimes.append(measure(bareTrue, directory: workspace).seconds)
}
for (name, values) in [("warden", wardenTimes), ("guarded", guardedTimes), ("bwrap", bwrapTimes), ("bare", bareTimes)] {
    print("  \(name.padding(toLength: 8, withPad: " ", startingAt: 0)) median \(ms(median(values)))  p90 \(ms(percentile(values, 0.9)))")
}
let launchRatio = median(wardenTimes) / median(bwrapTimes)
print("  ratio warden/bwrap (medians): \(ratio(median(wardenTimes), median(bwrapTimes)))  (target <= 1.0)")
print("  the network guard adds \(ms(median(guardedTimes) - median(wardenTimes))) to a launch (capture rules, sockets, its thread and audit writer)")
print("  layers: warden = 7 namespaces + idmapped workspace + seccomp + Landlock + cgroups + rlimits + empty capabilities")
print("          bwrap  = namespaces (--unshare-all) + empty capabilities; no seccomp, no Landlock, no cgroups")

// Where Warden's time goes: the phases recorded in the manifest of one more run of each.
func printPhases(_ label: String, _ command: [String]) {
    let manifestPath = workspace + "/bench-manifest.json"
    _ = measure(Array(command.prefix(2)) + ["--manifest", manifestPath] + Array(command.dropFirst(2)), directory: workspace)
    guard let text = try? Files.readText(manifestPath) else { return }
    // Each phase is {"milliseconds" : N, "name" : "..."} (keys sorted).
    var phases: [String] = []
    var cursor = text[...]
    while let millisRange = cursor.firstRange(of: "\"milliseconds\" : ") {
        let rest = cursor[millisRange.upperBound...]
        let number = Double(rest.prefix { "0123456789.e-".contains($0) }) ?? 0
        guard let nameRange = rest.firstRange(of: "\"name\" : \"") else { break }
        let afterName = rest[nameRange.upperBound...]
        guard let end = afterName.firstIndex(of: "\"") else { break }
        phases.append("\(afterName[..<end]) \(Double(Int(number * 100)) / 100) ms")
        cursor = afterName[end...]
    }
    print("  \(label) phases (one run): " + phases.joined(separator: ", "))
}
printPhases("warden", wardenTrue)
printPhases("guarded", guardedTrue)

let peakMiB = Double(wardenRSS.max() ?? 0) / 1024
print("\nPeak RSS of `warden run -- /bin/true` (the supervisor process, with and without the guard): max \(Double(Int(peakMiB * 10)) / 10) MiB over \(2 * options.runs) runs (target <= 32 MiB)")

// seccomp cost: dd with 1-byte blocks is two syscalls per byte with almost no work in between,
// the worst case for a filter. The same bubblewrap sandbox runs it without a filter, with a
// one-instruction allow-all filter (what any filter costs to enter), and with the exact program
// `warden run` loads for the shipped profile, so only the filter differs. Each round repeats dd
// inside one sandbox (launch stays out) and dd's own elapsed time is used. Host noise only ever
// adds time, so within a round the fastest runs are compared; the three variants run
// back to back in each round, so a round's ratio sees the same host conditions, and the median
// of the rounds' ratios is reported (one quiet moment in one variant cannot skew it).
let rounds = max(40, options.runs), perSandbox = 2
print("\nseccomp cost on a syscall-heavy workload: dd bs=1 count=\(options.ddBytes) (\(2 * options.ddBytes) syscalls), same sandbox, \(rounds) rounds x \(perSandbox) runs")
// dd's CPU time (user + system, as bash's `time` reports it) rather than its elapsed time: on a
// virtual machine, time stolen by the host lands in elapsed time but not in CPU time, and the
// filter's own cost is system time.
let ddScript = "TIMEFORMAT='cpu %3U %3S'; i=0; while [ $i -lt \(perSandbox) ]; do { time dd if=/dev/zero of=/dev/null bs=1 count=\(options.ddBytes) 2>/dev/null; } 2>&1; i=$((i+1)); done"
let shipped: (bytes: [UInt8], source: String)
do { shipped = try PolicyLocator.defaultSeccompProfile() } catch {
    printError("warden-bench: \(error.message)")
    exit(1)
}
func writeProgram(_ words: [UInt64], _ path: String) {
    var bytes: [UInt8] = []
    for word in words { for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) } }
    try? Files.writeAtomically(path, bytes, mode: 0o600)
}
let wardenProgram = workspace + "/warden.bpf", allowProgram = workspace + "/allow.bpf"
do {
    let prepared = try SeccompPreparation.prepare(profileBytes: shipped.bytes, profileSHA256: SHA256.hex(shipped.bytes), source: shipped.source,
                                                  context: .current, cacheDirectory: nil)
    writeProgram(prepared.main.instructions, wardenProgram)
} catch {
    printError("warden-bench: cannot compile the shipped profile: \(error.message)")
    exit(1)
}
writeProgram([0x7fff_0000_0000_0006], allowProgram)  // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
/// Runs the dd loop in the bubblewrap sandbox, with `filter` (a BPF program file) loaded by bwrap
/// from descriptor 9 when given.
func ddSeconds(filter: String?) -> [Double] {
    let sandbox = Array(bwrapTrue.dropLast())
    guard let filter else { return parseDD(measure(sandbox + ["/bin/bash", "-c", ddScript], directory: workspace).output) }
    let command = sandbox + ["--seccomp", "9", "/bin/bash", "-c", "exec 9<&-; " + ddScript]
    return parseDD(measure(["/bin/sh", "-c", "exec 9<'\(filter)'; exec \"$@\"", "sh"] + command, directory: workspace).output)
}
func parseDD(_ output: String) -> [Double] {
    output.split(separator: "\n").filter { $0.hasPrefix("cpu ") }.compactMap { line in
        let fields = line.split(separator: " ")
        guard fields.count == 3, let user = Double(fields[1]), let system = Double(fields[2]) else { return nil }
        return user + system
    }
}
var none: [Double] = [], floor: [Double] = [], filtered: [Double] = []
var floorRatios: [Double] = [], filteredRatios: [Double] = [], overFloorRatios: [Double] = []
for round in 0..<rounds {
    // The order rotates each round, so whatever favours the first or last run of a round
    // (frequency, caches) favours each variant equally.
    var results: [String: [Double]] = [:]
    let variants: [(String, String?)] = [("none", nil), ("floor", allowProgram), ("warden", wardenProgram)]
    for index in 0..<variants.count {
        let (name, program) = variants[(index + round) % variants.count]
        results[name] = ddSeconds(filter: program)
    }
    let roundNone = results["none"] ?? [], roundFloor = results["floor"] ?? [], roundFiltered = results["warden"] ?? []
    none += roundNone
    floor += roundFloor
    filtered += roundFiltered
    guard let n = roundNone.min(), let f = roundFloor.min(), let w = roundFiltered.min(), n > 0, f > 0 else { continue }
    floorRatios.append(f / n)
    filteredRatios.append(w / n)
    overFloorRatios.append(w / f)
}
func percent(_ ratios: [Double]) -> Double { (median(ratios) - 1) * 100 }
let cost = percent(filteredRatios)
print("  no filter:                            fastest \(ms(none.min() ?? 0)), median \(ms(median(none)))")
print("  one-instruction allow-all filter:     fastest \(ms(floor.min() ?? 0)), median \(ms(median(floor)))  (+\(Double(Int(percent(floorRatios) * 10)) / 10)%: entering any filter)")
print("  Warden's program (\((try? Files.read(wardenProgram).count).map { $0 / 8 } ?? 0) instructions):   fastest \(ms(filtered.min() ?? 0)), median \(ms(median(filtered)))")
print("  seccomp cost of Warden's filter (median of \(filteredRatios.count) rounds' ratios, fastest run each): \(Double(Int(cost * 10)) / 10)% of the workload's time (target <= 3%); over the one-instruction filter: \(Double(Int(percent(overFloorRatios) * 10)) / 10)%")
let sortedCosts = filteredRatios.sorted().map { ($0 - 1) * 100 }
func oneDecimal(_ value: Double) -> String { "\(Double(Int(value * 10)) / 10)%" }
if !sortedCosts.isEmpty {
    print("  spread of the rounds' costs (host noise): min \(oneDecimal(sortedCosts[0])), quartiles \(oneDecimal(sortedCosts[sortedCosts.count / 4]))"
          + " .. \(oneDecimal(sortedCosts[3 * sortedCosts.count / 4])), max \(oneDecimal(sortedCosts[sortedCosts.count - 1]))")
}

EgressBench.run()
GuardBench.run(warden: options.warden, testnet: options.testnet)
let guardFigures = GuardBench.summary
AgentBench.run(warden: options.warden, base: workspace)
let agentFigures = AgentBench.summary

print("\nSummary: launch ratio \(ratio(median(wardenTimes), median(bwrapTimes))) (<= 1.0: \(launchRatio <= 1.0 ? "met" : "not met")); "
      + "peak RSS \(Double(Int(peakMiB * 10)) / 10) MiB (<= 32: \(peakMiB <= 32 ? "met" : "not met")); "
      + "seccomp cost \(Double(Int(cost * 10)) / 10)% (<= 3%: \(cost <= 3 ? "met" : "not met")); "
      + "egress \(Int(EgressBench.summary.rate / 1000)) k decisions/s (>= 1,000 k: \(EgressBench.summary.rate >= 1_000_000 ? "met" : "not met")), "
      + "p99 \(Int(EgressBench.summary.p99)) ns (< 5000: \(EgressBench.summary.p99 < 5_000 ? "met" : "not met")); "
      + "guard throughput \(ratio(guardFigures.throughputRatio, 1)) of direct (>= 0.8: \(guardFigures.throughputRatio >= 0.8 ? "met" : "not met")), "
      + "added connection latency p50 \(GuardBench.round3(guardFigures.addedLatencyP50Milliseconds)) ms (< 0.5: \(guardFigures.addedLatencyP50Milliseconds < 0.5 ? "met" : "not met")), "
      + "1000 held connections \(GuardBench.round3(guardFigures.heldMemoryMiB)) MiB (<= 64: \(guardFigures.heldMemoryMiB > 0 && guardFigures.heldMemoryMiB <= 64 ? "met" : "not met")), "
      + "audit ingest \(Int(guardFigures.auditPerSecond)) records/s (>= 50,000: \(guardFigures.auditPerSecond >= 50_000 ? "met" : "not met")); "
      + "HTTPS inspected/tunnelled \(ratio(TLSBench.summary.throughputRatio, 1)) (>= 0.6: \(TLSBench.summary.throughputRatio >= 0.6 ? "met" : "not met")), "
      + "added per HTTPS connection p50 \(GuardBench.round3(TLSBench.summary.addedConnectionP50Milliseconds)) ms (< 2: \(TLSBench.summary.throughputRatio > 0 && TLSBench.summary.addedConnectionP50Milliseconds < 2 ? "met" : "not met")); "
      + "detection cost plain \(GuardBench.round3((1 - DetectionBench.summary.plainRatio) * 100)) %, inspected \(GuardBench.round3((1 - DetectionBench.summary.inspectedRatio) * 100)) % "
      + "(<= 10 %: \(DetectionBench.summary.plainRatio >= 0.9 && DetectionBench.summary.inspectedRatio >= 0.9 ? "met" : "not met")); "
      + "agent start -> program excluding clone \(agentFigures.startMedianMilliseconds) ms (<= 300: \(agentFigures.startMedianMilliseconds > 0 && agentFigures.startMedianMilliseconds <= 300 ? "met" : "not met")), "
      + "\(agentFigures.idleAgents) idle agents \(agentFigures.perAgentMiB) MiB each (<= 10: \(agentFigures.perAgentMiB > 0 && agentFigures.perAgentMiB <= 10 ? "met" : "not met"))")

extension StringProtocol {
    func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
        String(self) + String(repeating: pad, count: Swift.max(0, length - count))
    }
}
