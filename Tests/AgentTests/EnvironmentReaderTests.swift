import Agent
import Foundation
import Testing

/// `.cursor/environment.json`: every real file users have is read; every malformed or unknown
/// thing is refused with its exact place; what this host cannot honour is said.
struct EnvironmentReaderTests {
    static let compat = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/compat/environment").path

    static func compatFile(_ name: String) throws -> String {
        try String(contentsOfFile: compat + "/" + name, encoding: .utf8)
    }

    @Test func everyRealFileIsRead() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.compat).filter { $0.hasSuffix(".json") || $0.hasSuffix(".jsonc") }
        #expect(names.count >= 5, "the compat files are beside the repository: \(Self.compat)")
        for name in names {
            #expect(throws: Never.self, "\(name)") { _ = try EnvironmentReader.read(try Self.compatFile(name), file: name) }
        }
    }

    @Test func commentsSnapshotPrecedenceAndPorts() throws {
        let environment = try EnvironmentReader.read(try Self.compatFile("with-comments.jsonc"))
        #expect(environment.install == "bash .cursor/cloud-agent/install.sh")
        #expect(environment.base == .snapshot("snapshot-1"), "snapshot takes precedence over build")
        #expect(environment.ports == [AgentEnvironment.Port(port: 3000, name: "web"), AgentEnvironment.Port(port: 8080, name: "api")])
        #expect(environment.agentCanUpdateSnapshot == true)
        #expect(environment.terminals.isEmpty)
        #expect(EnvironmentSupport.notices(environment).map(\.field) == ["snapshot", "agentCanUpdateSnapshot"], "agentCanUpdateSnapshot is reported, never silently ignored")
        #expect(EnvironmentSupport.notices(environment, snapshotUpdates: true).map(\.field) == ["snapshot"], "honoured where the policy allows")
    }

    @Test func buildPathsAreRelativeToCursorWithTheRootSpellings() throws {
        let moose = try EnvironmentReader.read(try Self.compatFile("moose.json"))
        guard case .build(let build)? = moose.base else { Issue.record("no build"); return }
        #expect(build.resolvedContext == "", "\"..\" is the repository root")
        #expect(build.resolvedDockerfile == ".cursor/Dockerfile")
        #expect(moose.install == "pnpm install --frozen-lockfile && cargo build --locked")
        let php = try EnvironmentReader.read(try Self.compatFile("php-apache.json"))
        guard case .build(let phpBuild)? = php.base else { Issue.record("no build"); return }
        #expect(phpBuild.resolvedContext == "" && phpBuild.resolvedDockerfile == "Dockerfile")
        #expect(php.terminals == [AgentEnvironment.Terminal(name: "terminal", command: "echo \"the terminal\"", description: "The terminal")])
        #expect(EnvironmentSupport.notices(php).map(\.field) == ["build"])
        let plain = try EnvironmentReader.read(#"{"build": {"dockerfile": "images/Dockerfile"}}"#)
        guard case .build(let relative)? = plain.base else { Issue.record("no build"); return }
        #expect(relative.resolvedContext == ".cursor" && relative.resolvedDockerfile == ".cursor/images/Dockerfile")
    }

    @Test func nestedTerminalsAreFlattenedInOrder() throws {
        let environment = try EnvironmentReader.read(#"{"terminals": [{"command": "a"}, [{"name": "b", "command": "b"}, [{"command": "c"}]]]}"#)
        #expect(environment.terminals.map(\.command) == ["a", "b", "c"])
    }

    @Test func stringsEscapesAndUnicode() throws {
        let environment = try EnvironmentReader.read(#"{"name": "caf\u00e9 \ud83d\ude00 \"q\" /* not a comment */"}"#)
        #expect(environment.name == "café 😀 \"q\" /* not a comment */")
    }

    @Test("refused with the exact place", arguments: [
        ("{\n  \"install\": \"x\",\n  \"colour\": \"blue\"\n}", "3:3", "colour: unknown key \"colour\""),
        ("{\"install\": 3}", "1:13", "install: expected a string, found a number"),
        ("{\"ports\": [{\"port\": 0}]}", "1:21", "ports[0].port: expected a whole number from 1 to 65535"),
        ("{\"ports\": [{\"port\": 70000}]}", "1:21", "ports[0].port: expected a whole number"),
        ("{\"ports\": [{\"port\": \"80\"}]}", "1:21", "ports[0].port: expected a whole number"),
        ("{\"ports\": [{\"port\": 80.5}]}", "1:21", "ports[0].port: expected a whole number"),
        ("{\"ports\": [{\"name\": \"web\"}]}", "1:12", "ports[0]: a port needs \"port\""),
        ("{\"terminals\": [{\"name\": \"t\"}]}", "1:16", "terminals[0]: a terminal needs a \"command\""),
        ("{\"egressMode\": \"open\"}", "1:16", "egressMode: \"open\" is not one of"),
        ("{\"build\": {\"dockerfile\": \"D\", \"dockerfileContents\": \"FROM x\"}}", "1:11", "build: needs exactly one of"),
        ("{\"build\": {\"dockerfile\": \"D\", \"context\": \"../../etc\"}}", "1:42", "build.context: \"../../etc\" leaves the repository"),
        ("{\"install\": \"a\" \"start\": \"b\"}", "1:17", "expected \",\" or \"}\""),
        ("{\"install\": \"a\", \"install\": \"b\"}", "1:18", "key \"install\" appears twice (first at 1:2)"),
        ("{\n  /* never closed\n  \"install\": \"a\"\n}", "2:3", "a /* comment is never closed"),
        ("{\"install\": \"a\"} x", "1:18", "unexpected text after the end"),
        ("", "1:1", "the file is empty"),
        ("[]", "1:1", "expected an object, found an array"),
        ("{\"install\": \"a\u{01}\"}", "1:15", "a control character inside a string"),
        ("{\"enable_testing\": tru}", "1:20", "expected a value"),
        ("{\"agentCanUpdateSnapshot\": \"yes\"}", "1:28", "agentCanUpdateSnapshot: expected true or false"),
    ])
    func refusals(_ text: String, _ place: String, _ expected: String) {
        do {
            _ = try EnvironmentReader.read(text, file: "env.json")
            Issue.record("accepted: \(expected)")
        } catch {
            #expect(error.description.hasPrefix("env.json:\(place): "), "\(error)")
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test func trailingCommasAndLineCommentsAreAccepted() throws {
        let environment = try EnvironmentReader.read("{\n  // a comment\n  \"install\": \"a\", // after\n  \"ports\": [{\"port\": 1,},],\n}")
        #expect(environment.install == "a")
        #expect(environment.ports.map(\.port) == [1])
    }

    @Test func whatCannotBeHonouredIsSaid() throws {
        let crucible = try EnvironmentReader.read(try Self.compatFile("crucible.json"))
        #expect(EnvironmentSupport.notices(crucible).map(\.field) == ["user"])
        let agentUser = try EnvironmentReader.read(#"{"user": "agent", "image": "ubuntu:24.04", "enable_testing": true}"#)
        #expect(EnvironmentSupport.notices(agentUser).map(\.field) == ["image", "enable_testing"])
        #expect(EnvironmentSupport.notices(agentUser, containerEngine: true).map(\.field) == ["enable_testing"])
    }
}
