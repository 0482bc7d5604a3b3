import ArgumentParser
import FoundationEssentials
import Sandbox
import WardenSystem

/// `warden doctor [--json]`: checks every layer on this machine and prints the fix for each
/// failure. Exit status 0 when nothing fails, 1 otherwise.
public struct DoctorCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check every isolation layer on this kernel and print the exact fix for each failure.")

    @Flag(name: .long, help: "Print the checks as JSON.")
    public var json = false

    @Option(name: .long, help: ArgumentHelp("Directory whose file system is checked for idmapped mounts (default: current).", valueName: "dir"))
    public var workspace: String?

    public init() {}

    public func run() throws {
        let directory = workspace ?? RunConfigurationDefaults.currentDirectory
        let checks = Doctor(workspace: directory).run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(checks)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(Self.table(checks))
        }
        if checks.contains(where: { $0.status == .failure }) { throw ExitCode(1) }
    }

    static func table(_ checks: [DoctorCheck]) -> String {
        let width = (checks.map(\.name.count).max() ?? 0) + 2
        var lines: [String] = []
        for check in checks {
            let mark: String
            switch check.status {
            case .ok: mark = "ok  "
            case .warning: mark = "warn"
            case .failure: mark = "FAIL"
            }
            let name = check.name + String(repeating: " ", count: max(1, width - check.name.count))
            lines.append("\(mark)  \(name)\(check.detail)")
            if let fix = check.fix, check.status != .ok {
                lines.append("      " + String(repeating: " ", count: width) + "fix: \(fix)")
            }
        }
        let failures = checks.filter { $0.status == .failure }.count
        lines.append(failures == 0 ? "\nAll layers can engage." : "\n\(failures) layer(s) cannot engage: runs that need them are refused.")
        return lines.joined(separator: "\n")
    }
}

enum RunConfigurationDefaults {
    static var currentDirectory: String {
        guard let cwd = getcwd(nil, 0) else { return "/" }
        defer { free(cwd) }
        return String(cString: cwd)
    }
}

import Glibc
