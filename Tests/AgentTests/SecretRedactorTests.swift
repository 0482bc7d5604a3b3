import Agent
import Testing

/// Known secret values never reach a captured log (R18), even split across chunks.
struct SecretRedactorTests {
    let secrets = ["NPM_TOKEN": "npm_abcdef123456", "PASSWORD": "hunter2hunter2", "PIN": "1234"]

    @Test func valuesAreReplacedByTheirNames() {
        let log = "auth=npm_abcdef123456 then hunter2hunter2; pin 1234 stays (too short to redact usefully)"
        #expect(SecretRedactor.redact(log, secrets) == "auth=[redacted:NPM_TOKEN] then [redacted:PASSWORD]; pin 1234 stays (too short to redact usefully)")
    }

    @Test(arguments: [1, 2, 3, 5, 7, 16, 100])
    func aValueSplitAcrossChunksIsStillCaught(_ size: Int) {
        let log = Array("x npm_abcdef123456 y hunter2hunter2 z".utf8)
        var redactor = SecretRedactor(secrets)
        var output: [UInt8] = []
        var index = 0
        while index < log.count {
            output += redactor.redact(Array(log[index..<min(log.count, index + size)]))
            index += size
        }
        output += redactor.finish()
        #expect(String(decoding: output, as: UTF8.self) == "x [redacted:NPM_TOKEN] y [redacted:PASSWORD] z")
    }

    @Test func overlappingValuesPreferTheLongest() {
        #expect(SecretRedactor.redact("key=abcdefghij", ["SHORT": "abcdef", "LONG": "abcdefghij"]) == "key=[redacted:LONG]")
    }

    @Test func withoutSecretsNothingIsHeldBack() {
        var redactor = SecretRedactor([:])
        #expect(redactor.redact(Array("plain".utf8)) == Array("plain".utf8))
    }
}
