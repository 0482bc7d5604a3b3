import Glibc
import Policy
import WardenSystem

/// Where callers who may read but not write the policy store record their decisions (a
/// member's refused change, a weakening option used or refused): `HOME/journal/UID`, one
/// append-only file per uid in a sticky directory only root can list (mode 1733). The kernel
/// attests who wrote each file (its owner, which must match its name), so nobody can record a
/// decision in another user's name; a user can only truncate their own file, a limit until the
/// daemon owns every write.
public struct DecisionJournal {
    public let directory: String

    public init(home: String) {
        directory = home + "/journal"
    }

    /// Made by root beside the store.
    public func create() throws(StoreError) {
        if Files.lstat(directory) == nil {
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw StoreError(.unavailable, "create \(directory): \(String(cString: strerror(errno)))")
            }
        }
        guard let st = Files.lstat(directory), (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == getuid() else {
            throw StoreError(.unavailable, "\(directory) is not a directory owned by uid \(getuid())")
        }
        guard chmod(directory, 0o1733) == 0 else { throw StoreError(.unavailable, "chmod \(directory): \(String(cString: strerror(errno)))") }
    }

    /// Appends one record to the caller's own file, durably (fsync), or throws.
    public func append(_ record: DecisionRecord) throws(StoreError) {
        let uid = getuid()
        let path = "\(directory)/\(uid)"
        do {
            let file = try FileDescriptor.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, mode: 0o600)
            let st = try file.stat()
            guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == uid, st.st_nlink == 1 else {
                throw StoreError(.unavailable, "\(path) is not a regular file of uid \(uid)")
            }
            try file.writeAll(Self.line(record))
            guard fsync(file.raw) == 0 else { throw SystemError(errno: errno, step: "fsync(\(path))") }
        } catch let error as StoreError {
            throw error
        } catch let error as SystemError {
            throw StoreError(.unavailable, "record in \(path): \(error.reason)")
        } catch {
            throw StoreError(.unavailable, "record in \(path): \(error)")
        }
    }

    /// Every record in the journal, attributed to the uid that owns its file. Files whose
    /// owner does not match their name, or that are not regular files, are skipped.
    public func records(onlyUID: UInt32? = nil, names: (UInt32) -> String) -> [DecisionRecord] {
        var result: [DecisionRecord] = []
        // Only root can list the directory; anyone can read their own file by name.
        for entry in onlyUID.map({ ["\($0)"] }) ?? Files.listDirectory(directory) {
            guard let uid = UInt32(entry), let st = Files.lstat("\(directory)/\(entry)"), (st.st_mode & S_IFMT) == S_IFREG,
                  st.st_uid == uid, let text = try? Files.readText("\(directory)/\(entry)", limit: 64 << 20) else { continue }
            for line in text.split(separator: "\n") {
                guard let record = Self.parse(line, uid: uid, name: names(uid)) else { continue }
                result.append(record)
            }
        }
        return result
    }

    /// `time TAB allowed TAB rule TAB action TAB reason`, with tab, newline and backslash escaped.
    static func line(_ record: DecisionRecord) -> String {
        [String(record.time), record.decision.allowed ? "1" : "0", record.decision.rule, record.action, record.decision.reason]
            .map(escape).joined(separator: "\t") + "\n"
    }

    static func parse(_ line: Substring, uid: UInt32, name: String) -> DecisionRecord? {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { unescape(String($0)) }
        guard fields.count == 5, let time = Int64(fields[0]), fields[1] == "0" || fields[1] == "1" else { return nil }
        return DecisionRecord(time: time, actor: Actor(uid: uid, name: name), action: fields[3],
                              decision: Decision(allowed: fields[1] == "1", rule: fields[2], reason: fields[4]))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    static func unescape(_ text: String) -> String {
        var out = ""
        var escaping = false
        for character in text {
            if escaping {
                out.append(character == "t" ? "\t" : character == "n" ? "\n" : character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        return out
    }
}
