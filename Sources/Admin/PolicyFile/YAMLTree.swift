import Policy
import Yams

/// Typed, located reading of a YAML tree: each accessor checks the node's shape, remembers
/// the line of every path it visits (so later checks can point at lines too), and refuses
/// unknown keys, duplicate keys, aliases and oversized documents.
final class YAMLTree {
    let file: String
    private(set) var lines: [String: Int] = [:]
    /// Nodes visited; bounds the work an alias-expanding document can cause.
    private var budget = 200_000

    init(file: String) {
        self.file = file
    }

    static func compose(_ text: String, file: String) throws(PolicyFileError) -> Node {
        guard text.utf8.count <= 1 << 20 else { throw PolicyFileError(file: file, line: nil, path: nil, message: "larger than 1 MiB") }
        guard !text.utf8.contains(0) else { throw PolicyFileError(file: file, line: nil, path: nil, message: "contains NUL bytes; not a YAML text file") }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw PolicyFileError(file: file, line: Self.line(of: error), path: nil, message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw PolicyFileError(file: file, line: nil, path: nil, message: "not valid YAML: \(error)")
        }
        guard let node else { throw PolicyFileError(file: file, line: 1, path: nil, message: "empty; expected a policy document") }
        return node
    }

    func fail(_ node: Node?, _ path: String, _ message: String) -> PolicyFileError {
        PolicyFileError(file: file, line: node?.mark?.line ?? lines[path], path: path.isEmpty ? nil : path, message: message)
    }

    private func visit(_ node: Node, _ path: String) throws(PolicyFileError) {
        budget -= 1
        guard budget > 0 else { throw fail(node, path, "too many nodes (aliases expanding?)") }
        if case .alias = node { throw fail(node, path, "aliases are not allowed in a policy file") }
        if let line = node.mark?.line, lines[path] == nil { lines[path] = line }
    }

    /// A mapping's entries by key, refusing keys outside `allowed` and any key given twice.
    /// `required` keys must all be present: a file cut short loses keys and is refused.
    func mapping(_ node: Node, _ path: String, allowed: [String], required: [String]? = nil) throws(PolicyFileError) -> YAMLFields {
        try visit(node, path)
        guard let mapping = node.mapping else { throw fail(node, path, "expected a mapping of \(allowed.joined(separator: ", "))") }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else { throw fail(keyNode, path, "keys must be plain names") }
            let child = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                throw fail(keyNode, child, "unknown key \"\(key)\"; expected one of \(allowed.joined(separator: ", "))")
            }
            guard result[key] == nil else { throw fail(keyNode, child, "given twice") }
            result[key] = value
            if let line = keyNode.mark?.line { lines[child] = line }
        }
        for key in required ?? allowed where result[key] == nil {
            throw fail(node, path, "missing key \"\(key)\" (every key is required, so a file cut short is refused)")
        }
        return YAMLFields(values: result, path: path, tree: self, mark: node)
    }

    /// A mapping with free keys (user names), in file order.
    func pairs(_ node: Node, _ path: String) throws(PolicyFileError) -> [(key: String, value: Node)] {
        try visit(node, path)
        guard let mapping = node.mapping else { throw fail(node, path, "expected a mapping") }
        var seen = Set<String>()
        var result: [(String, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else { throw fail(keyNode, path, "keys must be plain names") }
            guard seen.insert(key).inserted else { throw fail(keyNode, "\(path).\(key)", "given twice") }
            if let line = keyNode.mark?.line { lines["\(path).\(key)"] = line }
            result.append((key, value))
        }
        return result
    }

    func sequence(_ node: Node, _ path: String) throws(PolicyFileError) -> [Node] {
        try visit(node, path)
        guard let sequence = node.sequence else { throw fail(node, path, "expected a list") }
        return Array(sequence)
    }

    func string(_ node: Node, _ path: String) throws(PolicyFileError) -> String {
        try visit(node, path)
        guard let scalar = node.scalar else { throw fail(node, path, "expected a single value") }
        return scalar.string
    }

    func strings(_ node: Node, _ path: String) throws(PolicyFileError) -> [String] {
        var result: [String] = []
        for (index, item) in try sequence(node, path).enumerated() { result.append(try string(item, "\(path)[\(index)]")) }
        return result
    }

    func bool(_ node: Node, _ path: String) throws(PolicyFileError) -> Bool {
        try parse(node, path) { text throws(PolicyError) in
            switch text.lowercased() {
            case "true", "on", "yes": return true
            case "false", "off", "no": return false
            default: throw PolicyError(.invalidValue, "expected true or false, found \"\(text)\"")
            }
        }
    }

    /// Reads a scalar through a Policy parser; its error gets this node's line.
    func parse<T>(_ node: Node, _ path: String, _ parser: (String) throws(PolicyError) -> T) throws(PolicyFileError) -> T {
        let text = try string(node, path)
        do {
            return try parser(text)
        } catch {
            throw fail(node, path, error.message)
        }
    }

    func enumeration<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _ type: T.Type) throws(PolicyFileError) -> T where T.RawValue == String {
        try parse(node, path) { text throws(PolicyError) in try SettingValue.enumeration(text, type) }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        case let .duplicatedKeysInMapping(_, context): return context.mark.line
        default: return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _): return problem
        case let .duplicatedKeysInMapping(duplicates, _): return "key given twice: \(duplicates.joined(separator: ", "))"
        default: return "\(error)".split(separator: "\n").first.map(String.init) ?? "syntax error"
        }
    }
}

/// A checked mapping's entries.
struct YAMLFields {
    let values: [String: Node]
    let path: String
    let tree: YAMLTree
    let mark: Node

    subscript(key: String) -> Node? { values[key] }

    /// A key the schema requires (`mapping` already refused its absence; this keeps that
    /// guarantee without a force unwrap).
    func node(_ key: String) throws(PolicyFileError) -> Node {
        guard let node = values[key] else {
            throw tree.fail(mark, path.isEmpty ? key : "\(path).\(key)", "missing key \"\(key)\"")
        }
        return node
    }
}
