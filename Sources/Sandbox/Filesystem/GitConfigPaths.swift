/// The entries of a git configuration file that name other files git reads or runs:
/// `include.path`, `includeIf.<condition>.path` and `core.hooksPath`.
///
/// Why: a read-only `.git/config` is not enough when it points into the workspace — an
/// `include.path = ../team.gitconfig` or husky's `core.hooksPath = .husky` makes git read or run
/// files the sandbox can write. Warden protects those files too, so it must find every such
/// entry; anything that could be one but does not parse cleanly is reported as `unclear`, and
/// the run is refused rather than guessed at.
public struct GitConfigPaths: Equatable, Sendable {
    public var includes: [String] = []
    public var hooksPaths: [String] = []
    /// `extensions.objectFormat` (sha1 when unset): the index's object-name width depends on it.
    public var objectFormat: String?
    /// Set when the text mentions include or hooksPath in a way the parser did not account for.
    public var unclear = false

    public init(_ bytes: [UInt8]) {
        var parser = Parser(Array(bytes))
        var hooksKeys = 0
        while let (section, key, value) = parser.next() {
            let isInclude = (section == "include" || section.hasPrefix("includeif.")) && key == "path"
            if key == "hookspath" { hooksKeys += 1 }
            guard let value, !value.isEmpty else { continue }
            if isInclude { includes.append(value) }
            if section == "core" && key == "hookspath" { hooksPaths.append(value) }
            if section == "extensions" && key == "objectformat" { objectFormat = value.lowercased() }
        }
        // A safety net under the parser: each line that looks like an include header or a
        // hooksPath key must have been read as one.
        var includeLines = 0, hooksLines = 0
        for line in String(decoding: bytes, as: UTF8.self).lowercased().split(separator: "\n") {
            var rest = line.drop { $0 == " " || $0 == "\t" }
            if rest.first == "[" {
                let header = rest.dropFirst().drop { $0 == " " || $0 == "\t" }
                if header.hasPrefix("include") { includeLines += 1 }
                rest = rest.firstIndex(of: "]").map { rest[rest.index(after: $0)...].drop { $0 == " " || $0 == "\t" } } ?? ""
            }
            if rest.hasPrefix("hookspath") { hooksLines += 1 }
        }
        unclear = parser.failed || includeLines != parser.includeHeaders || hooksLines != hooksKeys
    }

    /// Reads `section.key = value` entries (section lower-cased, with its subsection appended
    /// after a dot as written; key lower-cased; value unquoted and unescaped, nil for a bare key).
    struct Parser {
        let text: [UInt8]
        var index = 0
        var section = ""
        var failed = false
        /// Headers of `include` and `includeIf` sections read.
        var includeHeaders = 0

        init(_ text: [UInt8]) {
            self.text = text
        }

        mutating func next() -> (String, String, String?)? {
            while index < text.count && !failed {
                skipSpace(newlines: true)
                guard index < text.count else { return nil }
                switch text[index] {
                case UInt8(ascii: "#"), UInt8(ascii: ";"):
                    skipLine()
                case UInt8(ascii: "["):
                    header()
                default:
                    return entry()
                }
            }
            return nil
        }

        private mutating func header() {
            index += 1
            var name: [UInt8] = []
            while index < text.count, text[index] != UInt8(ascii: "]"), text[index] != UInt8(ascii: "\""), text[index] != 10 {
                if text[index] != 32 && text[index] != 9 { name.append(lower(text[index])) }
                index += 1
            }
            var subsection: [UInt8] = []
            if index < text.count, text[index] == UInt8(ascii: "\"") {
                index += 1
                while index < text.count, text[index] != UInt8(ascii: "\""), text[index] != 10 {
                    if text[index] == UInt8(ascii: "\\"), index + 1 < text.count { index += 1 }
                    subsection.append(text[index])
                    index += 1
                }
                index += 1
                skipSpace(newlines: false)
            }
            guard index < text.count, text[index] == UInt8(ascii: "]") else {
                failed = true
                return
            }
            index += 1
            section = String(decoding: name, as: UTF8.self)
            if section.hasPrefix("include") { includeHeaders += 1 }
            if !subsection.isEmpty { section += "." + String(decoding: subsection, as: UTF8.self) }
        }

        private mutating func entry() -> (String, String, String?)? {
            var key: [UInt8] = []
            while index < text.count, isKeyCharacter(text[index]) {
                key.append(lower(text[index]))
                index += 1
            }
            guard !key.isEmpty else {
                failed = true
                return nil
            }
            skipSpace(newlines: false)
            guard index < text.count, text[index] == UInt8(ascii: "=") else {
                skipLine()
                return (section, String(decoding: key, as: UTF8.self), nil)
            }
            index += 1
            return (section, String(decoding: key, as: UTF8.self), value())
        }

        /// git's value syntax: quotes, backslash escapes, line continuations, comments.
        private mutating func value() -> String {
            skipSpace(newlines: false)
            var out: [UInt8] = []
            var quoted = false
            var pendingSpace: [UInt8] = []
            while index < text.count {
                let c = text[index]
                index += 1
                if c == 10 && !quoted { break }
                if c == 10 {
                    failed = true
                    break
                }
                if !quoted && (c == UInt8(ascii: "#") || c == UInt8(ascii: ";")) {
                    skipLine()
                    break
                }
                if !quoted && (c == 32 || c == 9 || c == 13) {
                    pendingSpace.append(c)
                    continue
                }
                if c == UInt8(ascii: "\"") {
                    out += pendingSpace
                    pendingSpace = []
                    quoted.toggle()
                    continue
                }
                out += pendingSpace
                pendingSpace = []
                if c == UInt8(ascii: "\\") {
                    guard index < text.count else { break }
                    let escaped = text[index]
                    index += 1
                    switch escaped {
                    case 10: continue
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "b"): _ = out.popLast()
                    case UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(escaped)
                    default: failed = true
                    }
                    continue
                }
                out.append(c)
            }
            if quoted { failed = true }
            return String(decoding: out, as: UTF8.self)
        }

        private mutating func skipSpace(newlines: Bool) {
            while index < text.count, text[index] == 32 || text[index] == 9 || text[index] == 13 || (newlines && text[index] == 10) {
                index += 1
            }
        }

        private mutating func skipLine() {
            while index < text.count, text[index] != 10 { index += 1 }
        }

        private func isKeyCharacter(_ c: UInt8) -> Bool {
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == UInt8(ascii: "-")
        }

        private func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
    }
}
