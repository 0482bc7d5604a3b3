@testable import Sandbox
import Testing

@Suite("Terminal output filter (R12, R13)")
struct TerminalOutputFilterTests {
    func run(_ chunks: [String]) -> String {
        var filter = TerminalOutputFilter()
        var output: [UInt8] = []
        for chunk in chunks { output += filter.filter(Array(chunk.utf8)) }
        return String(decoding: output, as: UTF8.self)
    }

    @Test("colours, cursor movement, titles and hyperlinks pass")
    func passes() {
        let text = "\u{1b}[1;31mred\u{1b}[0m \u{1b}[2J\u{1b}[H\u{1b}]0;my title\u{07}\u{1b}]8;;https://x.test/?a=1\u{1b}\\link\u{1b}]8;;\u{1b}\\ \u{1b}7\u{1b}8"
        #expect(run([text]) == text)
    }

    @Test("clipboard writes, reports, queries and device strings are dropped", arguments: [
        ("A\u{1b}]52;c;cHduZWQ=\u{07}B", "AB"),
        ("A\u{1b}[21tB", "AB"),
        ("A\u{1b}[14;2tB", "AB"),
        ("A\u{1b}]11;?\u{1b}\\B", "AB"),
        ("A\u{1b}P$qm\u{1b}\\B", "AB"),
        ("A\u{1b}_payload\u{1b}\\B", "AB"),
        ("A\u{1b}]1337;File=x\u{07}B", "AB"),
    ])
    func drops(_ input: String, _ expected: String) {
        #expect(run([input]) == expected)
    }

    @Test("an ESC, CAN or SUB inside a sequence aborts it as in a terminal, and cannot smuggle the next one", arguments: [
        ("A\u{1b}[\u{1b}]52;c;SGVsbG8=\u{07}B", "AB"),
        ("A\u{1b}[\u{1b}[21tB", "AB"),
        ("A\u{1b}[\u{1b}P$qm\u{1b}\\B", "AB"),
        ("A\u{1b}[1\u{18}B", "AB"),
        ("A\u{1b}]0;t\u{1a}\u{1b}]52;c;x\u{07}B", "AB"),
        ("A\u{1b}%@\u{1b}%GB", "AB"),
    ])
    func nested(_ input: String, _ expected: String) {
        #expect(run([input]) == expected)
    }

    @Test("C1 controls are dropped, raw or UTF-8 encoded; other text passes")
    func c1() {
        var filter = TerminalOutputFilter()
        let raw: [UInt8] = [0x41, 0x9b, 0x32, 0x4a, 0xc2, 0x9d, 0x35, 0x32, 0xc2, 0xa9, 0xe2, 0x82, 0xac, 0x42]
        #expect(filter.filter(raw) == [0x41, 0x32, 0x4a, 0x35, 0x32, 0xc2, 0xa9, 0xe2, 0x82, 0xac, 0x42])
        #expect(run(["caf\u{e9} \u{20ac} \u{1f600}"]) == "caf\u{e9} \u{20ac} \u{1f600}")
    }

    @Test("a sequence split across reads is judged whole")
    func split() {
        #expect(run(["A\u{1b}]5", "2;c;", "cHd", "uZWQ=\u{07}B\u{1b}[", "31mC"]) == "AB\u{1b}[31mC")
        #expect(run(["x\u{1b}", "[2", "1t", "y"]) == "xy")
    }

    @Test("an endless sequence is dropped, not buffered forever")
    func bounded() {
        let long = "\u{1b}]2;" + String(repeating: "a", count: 10_000)
        #expect(run([long, "\u{07}after"]) == "after")
    }
}
