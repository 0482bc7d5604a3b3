import ArgumentParser
import Policy
import Store
import WardenSystem

/// `warden-admin show`: every setting of the version in force, with who you are.
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the policy in force, every key with its value.")
    @OptionGroup var options: AdminOptions

    func run() throws {
        let session = try AdminSession(options)
        let (version, policy) = try session.current()
        let values = PolicySettings.flatten(policy)
        if options.json {
            struct Output: Encodable { var version: Int; var caller: String; var settings: [String: String]; var policy: OrgPolicy }
            session.emit(Output(version: version, caller: try session.caller.description, settings: values, policy: policy))
            return
        }
        print("policy version \(version)\(version == 0 ? " (built-in; nothing written yet)" : ""); you are \(try session.caller)")
        let width = values.keys.map(\.count).max() ?? 0
        for key in values.keys.sorted() { print(key.padding(toLength: width) + "  " + (values[key] ?? "")) }
    }
}

/// `warden-admin get KEY`.
struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Print one setting's value.")
    @OptionGroup var options: AdminOptions
    @Argument(help: "Any key `show` lists, e.g. network.mode, privacy.users.alice, users.alice.") var key: String

    func run() throws {
        let session = try AdminSession(options)
        let value: String
        let policy = try session.current().policy
        do throws(PolicyError) { value = try PolicySettings.get(policy, key) } catch {
            // Keys of collections (users.NAME, network.rules.ID) are read from the listing `show` prints.
            guard let listed = PolicySettings.flatten(policy)[key] else { throw AdminSession.invalid(error.description) }
            value = listed
        }
        if options.json { session.emit(["key": key, "value": value]) } else { print(value) }
    }
}

/// `warden-admin export`: the policy in force as a policy file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Print the policy in force as YAML (a file `apply` takes).")
    @OptionGroup var options: AdminOptions

    func run() throws {
        let session = try AdminSession(options)
        let (version, policy) = try session.current()
        if options.json {
            struct Output: Encodable { var version: Int; var policy: OrgPolicy }
            session.emit(Output(version: version, policy: policy))
        } else {
            print(PolicyFileWriter.write(policy), terminator: "")
        }
    }
}

/// `warden-admin history`: every version, who wrote it, when, and what changed.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List policy versions: who changed what, when, old and new values.")
    @OptionGroup var options: AdminOptions
    @OptionGroup var bound: ListLimit

    func run() throws {
        let session = try AdminSession(options)
        let history: [PolicyVersionInfo]
        do { history = try session.service.store?.history(limit: bound.limit) ?? [] } catch { throw AdminSession.fail(error) }
        if options.json { session.emit(history); return }
        if history.isEmpty { print("no versions yet: the built-in policy is in force"); return }
        for info in history {
            print("version \(info.version)  \(Timestamp.text(info.time))  \(info.actor.name) (uid \(info.actor.uid))  \(info.command)")
            for change in info.changes { print("    " + AdminSession.describe(change)) }
        }
    }
}

/// `warden-admin diff V1 V2`.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "diff", abstract: "Show what differs between two policy versions (0: the built-in policy).")
    @OptionGroup var options: AdminOptions
    @Argument(help: "The older version.") var from: Int
    @Argument(help: "The newer version.") var to: Int

    func run() throws {
        let session = try AdminSession(options)
        let old = try Versions.policy(from, session), new = try Versions.policy(to, session)
        let changes = SettingChange.between(old, new)
        if options.json { session.emit(changes); return }
        if changes.isEmpty { print("versions \(from) and \(to) are the same") }
        for change in changes { print(AdminSession.describe(change)) }
    }
}

/// `warden-admin decisions`: recorded security decisions (refused changes, weakening options).
struct DecisionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decisions", abstract: "List recorded decisions: refused changes, weakening options used or refused (members: their own).")
    @OptionGroup var options: AdminOptions
    @OptionGroup var bound: ListLimit

    func run() throws {
        let session = try AdminSession(options)
        // R25: admins and auditors read every record; anyone else only their own.
        let caller = try session.caller
        let everyone = caller.role == .admin || caller.role == .auditor
        let decisions: [DecisionRecord]
        do { decisions = try session.service.decisions(limit: bound.limit, onlyUID: everyone ? nil : caller.uid) } catch { throw AdminSession.fail(error) }
        if options.json { session.emit(decisions); return }
        for record in decisions {
            print("\(Timestamp.text(record.time))  \(record.actor.name) (uid \(record.actor.uid))  \(record.action)  \(record.decision)")
        }
    }
}

/// Looks up stored versions; 0 is the built-in policy.
enum Versions {
    static func policy(_ number: Int, _ session: AdminSession) throws -> OrgPolicy {
        if number == 0 { return OrgPolicy.builtIn }
        do {
            guard let stored = try session.service.store?.version(number) else {
                throw AdminSession.invalid("there is no policy version \(number) (see `warden-admin history`)")
            }
            return stored.policy
        } catch let error as StoreError {
            throw AdminSession.fail(error)
        }
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

/// `--limit N` of the listing commands.
struct ListLimit: ParsableArguments {
    @Option(name: .long, help: "Show at most this many (newest first).") var limit = 50

    func validate() throws {
        guard limit > 0 && limit <= 100_000 else { throw ValidationError("--limit must be 1-100000") }
    }
}
