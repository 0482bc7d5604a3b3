import CWardenShim
import Testing
@testable import Sandbox

/// The spawn request pid 1 reads (struct wd_spawn_request): what is refused before anything
/// is sent, and the layout of what is.
struct SandboxSpawnerTests {
    @Test func aRequestIsTheHeaderThenTheEnvironmentThenArgv() throws {
        let bytes = try SandboxSpawner.encode(.init(argv: ["/bin/sh", "-l"], environment: [("TERM", "xterm")], rows: 30, columns: 100))
        let head = MemoryLayout<wd_msg>.size
        #expect(Array(bytes[head...]) == Array("TERM=xterm\0/bin/sh\0-l\0".utf8))
        let message = bytes.withUnsafeBytes { $0.loadUnaligned(as: wd_msg.self) }
        #expect(message.type == UInt32(WD_MSG_SPAWN.rawValue))
        #expect(message.value.1 == 1 && message.value.2 == 2 && message.value.3 == 30 && message.value.4 == 100)
    }

    @Test func malformedRequestsAreRefusedBeforeTheyReachTheSandbox() {
        let refused: [SandboxSpawner.Request] = [
            .init(argv: []),
            .init(argv: ["/bin/sh", "a\0b"]),
            .init(argv: ["/bin/sh"], environment: [("BAD=NAME", "x")]),
            .init(argv: ["/bin/sh"], environment: [("TERM", "x\0y")]),
            .init(argv: Array(repeating: "x", count: Int(WD_SPAWN_MAX_ARGS) + 1)),
            .init(argv: ["/bin/sh", String(repeating: "x", count: Int(WD_SPAWN_STRINGS))]),
        ]
        for request in refused {
            #expect(throws: SandboxError.self) { try SandboxSpawner.encode(request) }
        }
    }

    @Test func aSpawnerWithoutARunningSandboxRefusesAtOnce() {
        #expect(throws: SandboxError.self) { try SandboxSpawner().spawn(.init(argv: ["/bin/sh"])) }
    }
}
