// `make bench`: Warden's launch cost against bubblewrap and a bare exec, interleaved in one run;
// the peak memory of `warden run -- /bin/true`; and the cost of the seccomp filter on a
// syscall-heavy workload. Prints medians and ratios measured side by side.
import Glibc
import WardenSystem

struct Options {
    var warden = "warden"
    var bwrap = "/usr/bin/bwrap"
    var runs = 40
    var ddBytes = 400_000
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
        default:
            printError("warden-bench: unknown option \(argument) (options: --warden PATH --bwrap PATH --runs N --dd-bytes N)")
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

/// Spawns a command (in the current directory, the workspace) with stdout captured, stderr to
/// /dev/null, and times it to its exit.
func measure(_ argv: [String], directory: String) -> Sample {
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
    let start = monotonicNanoseconds()
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    close(pipe[1])
    posix_spawn_file_actions_destroy(&actions)
    guard rc == 0 else {
        close(pipe[0])
        return Sample(seconds: 0, status: -1, maxRSSKiB: 0, output: "spawn failed: \(errnoDescription(rc))")
    }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(pipe[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(pipe[0])
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

let options = parseOptions()
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

let wardenTrue = [options.warden, "run", "--", "/bin/true"]
let bwrapTrue = [options.bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
                 "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                 "--proc", "/proc", "--dev", "/dev", "/bin/true"]
let bareTrue = ["/bin/true"]

// Warm-up: caches (the compiled seccomp profile, page cache) and a sanity check of each command.
for command in [wardenTrue, bwrapTrue, bareTrue] {
    let sample = measure(command, directory: workspace)
    if sample.status != 0 {
        printError("warden-bench: \(command.joined(separator: " ")) failed (status \(sample.status)) \(sample.output)")
        exit(1)
    }
}

print("Launch of /bin/true, \(options.runs) runs each, interleaved (warden, bwrap, bare)")
var wardenTimes: [Double] = [], bwrapTimes: [Double] = [], bareTimes: [Double] = []
var wardenRSS: [Int] = []
for _ in 0..<options.runs {
    let w = measure(wardenTrue, directory: workspace)
    wardenTimes.append(w.seconds)
    wardenRSS.append(w.maxRSSKiB)
    bwrapTimes.append(measure(bwrapTrue, directory: workspace).seconds)
    bareTimes.append(measure(bareTrue, directory: workspace).seconds)
}
for (name, values) in [("warden", wardenTimes), ("bwrap", bwrapTimes), ("bare", bareTimes)] {
    print("  \(name.padding(toLength: 7, withPad: " ", startingAt: 0)) median \(ms(median(values)))  p90 \(ms(percentile(values, 0.9)))")
}
let launchRatio = median(wardenTimes) / median(bwrapTimes)
print("  ratio warden/bwrap (medians): \(ratio(median(wardenTimes), median(bwrapTimes)))  (target <= 1.0)")
print("  layers: warden = 7 namespaces + idmapped workspace + seccomp + Landlock + cgroups + rlimits + empty capabilities")
print("          bwrap  = namespaces (--unshare-all) + empty capabilities; no seccomp, no Landlock, no cgroups")

// Where Warden's time goes: the phases recorded in the manifest of one more run.
let manifestPath = workspace + "/bench-manifest.json"
_ = measure([options.warden, "run", "--manifest", manifestPath, "--", "/bin/true"], directory: workspace)
if let text = try? Files.readText(manifestPath) {
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
    print("  warden phases (one run): " + phases.joined(separator: ", "))
}

let peakMiB = Double(wardenRSS.max() ?? 0) / 1024
print("\nPeak RSS of `warden run -- /bin/true` (the supervisor process): max \(Double(Int(peakMiB * 10)) / 10) MiB over \(options.runs) runs (target <= 32 MiB)")

// seccomp cost: dd with 1-byte blocks is two syscalls per byte with almost no work in between,
// the worst case for a filter. Each round runs the workload several times inside one sandbox
// (so launch cost and launch noise stay out) and dd's own elapsed time is used.
let rounds = max(4, options.runs / 8), perSandbox = 6
print("\nseccomp cost on a syscall-heavy workload: dd bs=1 count=\(options.ddBytes) (\(2 * options.ddBytes) syscalls), \(rounds) rounds x \(perSandbox) runs, interleaved")
let ddScript = "i=0; while [ $i -lt \(perSandbox) ]; do dd if=/dev/zero of=/dev/null bs=1 count=\(options.ddBytes) 2>&1; i=$((i+1)); done"
func ddSeconds(_ prefix: [String]) -> [Double] {
    let sample = measure(prefix + ["/bin/sh", "-c", ddScript], directory: workspace)
    return sample.output.split(separator: "\n").filter { $0.contains("copied") }.compactMap { line in
        let fields = line.split(separator: ",")
        return fields.count >= 3 ? Double(fields[fields.count - 2].trimmingCharacters(in: " s")) : nil
    }
}
var filtered: [Double] = [], unfiltered: [Double] = []
for _ in 0..<rounds {
    filtered += ddSeconds([options.warden, "run", "--"])
    unfiltered += ddSeconds(Array(bwrapTrue.dropLast()))
}
// Host noise only ever adds time, so the minimum over many repetitions estimates the intrinsic
// cost; medians are printed for context.
let cost = ((filtered.min() ?? 0) / (unfiltered.min() ?? 1) - 1) * 100
print("  inside warden (shipped profile, 1 filter): median \(ms(median(filtered))), min \(ms(filtered.min() ?? 0))")
print("  inside bwrap (no filter):                  median \(ms(median(unfiltered))), min \(ms(unfiltered.min() ?? 0))")
print("  seccomp cost (fastest run vs fastest run): \(Double(Int(cost * 10)) / 10)% of the workload's time (target <= 3%)")

print("\nSummary: launch ratio \(ratio(median(wardenTimes), median(bwrapTimes))) (<= 1.0: \(launchRatio <= 1.0 ? "met" : "not met")); "
      + "peak RSS \(Double(Int(peakMiB * 10)) / 10) MiB (<= 32: \(peakMiB <= 32 ? "met" : "not met")); "
      + "seccomp cost \(Double(Int(cost * 10)) / 10)% (<= 3%: \(cost <= 3 ? "met" : "not met"))")

extension StringProtocol {
    func trimmingCharacters(in characters: String) -> String {
        var text = Substring(self)
        while let first = text.first, characters.contains(first) { text.removeFirst() }
        while let last = text.last, characters.contains(last) { text.removeLast() }
        return String(text)
    }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }

    func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
        String(self) + String(repeating: pad, count: Swift.max(0, length - count))
    }
}
