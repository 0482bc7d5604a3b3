import Testing
@testable import Agent

/// Terminal session names are Warden's own: never tmux target syntax, unique, in file order.
struct AgentTerminalTests {
    @Test func sessionNamesAreSanitizedNumberedAndUnique() {
        let sessions = AgentTerminal.sessions(for: [
            .init(name: "dev server", command: "a", description: nil),
            .init(name: nil, command: "b", description: "unnamed"),
            .init(name: "dev server", command: "c", description: nil),
            .init(name: "a:b.c", command: "d", description: nil),
            .init(name: "\u{1B}]52;c;x\u{07}", command: "e", description: nil),
        ])
        #expect(sessions.map(\.session) == ["dev-server", "terminal-2", "dev-server-2", "a-b-c", "--52-c-x-"])
        #expect(sessions.map(\.command) == ["a", "b", "c", "d", "e"])
        #expect(sessions.allSatisfy { AgentTerminal.isValidSession($0.session) })
        #expect(!AgentTerminal.isValidSession("a:b") && !AgentTerminal.isValidSession("") && !AgentTerminal.isValidSession(String(repeating: "a", count: 33)))
    }

    @Test func onlyPlainTerminalTypesReachTheSandbox() {
        for term in ["xterm-256color", "screen.linux", "rxvt-unicode+x"] { #expect(AgentSession.isPlainTerm(term)) }
        for term in ["", "xterm\nPATH=/x", "a b", "$(id)", String(repeating: "x", count: 65)] { #expect(!AgentSession.isPlainTerm(term)) }
    }
}
