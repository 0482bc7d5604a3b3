@testable import Sandbox
import Testing

/// The region algebra must be exact: every operation is checked against the plain meaning of
/// the conditions on edge values and on many pseudo-random argument tuples.
@Suite("Argument regions")
struct ArgumentRegionTests {
    /// A small deterministic generator (SplitMix64), so failures reproduce.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let interesting: [UInt64] = [0, 1, 2, 9, 10, 16, 17, 40, 0x5411, 0x5412, 0x5413, 0x541B, 0x541C, 0x541D,
                                        0xffff_ffff, 0x1_0000_0000, 0x1_0000_5412, 0x1_0000_0028, 0x7E02_0000, 0x2_0000,
                                        0o4755, 0o755, 0o2000, .max, .max - 1, 1 << 63]

    /// Argument tuples mixing edge values and random ones.
    func samples(_ count: Int, seed: UInt64) -> [[UInt64]] {
        var generator = Generator(state: seed)
        var result: [[UInt64]] = []
        for i in 0..<count {
            var args: [UInt64] = []
            for _ in 0..<6 {
                let r = generator.next()
                args.append(r % 3 == 0 ? r : Self.interesting[Int(r % UInt64(Self.interesting.count))] ^ (i % 7 == 0 ? 1 : 0))
            }
            result.append(args)
        }
        return result
    }

    static let conditions: [ArgumentCondition] = [
        .init(index: 0, op: .equal, value: 10), .init(index: 0, op: .notEqual, value: 40),
        .init(index: 0, op: .lessThan, value: 17), .init(index: 0, op: .greaterOrEqual, value: 0x5412),
        .init(index: 0, op: .lessOrEqual, value: 0xffff_ffff), .init(index: 0, op: .greaterThan, value: 9),
        .masked(0, mask: 0xffff_ffff, equals: 0x5412), .masked(0, mask: 0x7E02_0000, equals: 0),
        .masked(1, mask: 0o6000, equals: 0), .equal32(1, 2), .init(index: 1, op: .greaterThan, value: 0x541C),
    ]

    @Test("intersection and union agree with the conditions' meaning")
    func intersectionAndUnion() throws {
        let tuples = samples(400, seed: 1)
        for a in Self.conditions {
            for b in Self.conditions {
                let left = ArgumentRegion(conjunctions: [[a]]), right = ArgumentRegion(conjunctions: [[b]])
                let both = try left.intersection(right)
                let either = left.union(right)
                for args in tuples {
                    #expect(both.matches(args) == (a.matches(args) && b.matches(args)), "\(a) AND \(b) at \(args)")
                    #expect(either.matches(args) == (a.matches(args) || b.matches(args)), "\(a) OR \(b) at \(args)")
                }
                for conjunction in both.conjunctions {
                    #expect(Set(conjunction.map(\.index)).count == conjunction.count, "one condition per argument")
                }
            }
        }
    }

    @Test("complement agrees with negation, including 32-bit masks and value sets")
    func complement() throws {
        let tuples = samples(600, seed: 2)
        var regions = Self.conditions.map { ArgumentRegion(conjunctions: [[$0]]) }
        regions.append(ArgumentRegion(conjunctions: [[.equal32(1, 0x5412)], [.equal32(1, 0x541C)]]))
        regions.append(ArgumentRegion(conjunctions: [[.init(index: 0, op: .equal, value: 1), .masked(2, mask: 0xff, equals: 3)]]))
        for region in regions {
            let negated = try region.complement()
            for args in tuples {
                #expect(negated.matches(args) == !region.matches(args), "NOT (\(region)) at \(args)")
            }
        }
    }

    @Test("notIn excludes exactly the listed values on the low 32 bits")
    func notIn() {
        let region = ArgumentRegion.notIn(index: 1, values: [0x5412, 0x541C], width: 32)
        for value in Self.interesting {
            let low = value & 0xffff_ffff
            #expect(region.matches([0, value, 0, 0, 0, 0]) == (low != 0x5412 && low != 0x541C), "\(value)")
        }
        #expect(region.conjunctions.count < 80, "compact: \(region.conjunctions.count) rules")
    }

    @Test("tautologies and contradictions normalise")
    func normalisation() throws {
        #expect(ArgumentRegion(conjunctions: [[.masked(0, mask: 0, equals: 0)]]).isEverything)
        #expect(ArgumentRegion(conjunctions: [[.masked(0, mask: 0xf, equals: 0x10)]]).isNothing)
        #expect(ArgumentRegion(conjunctions: [[.init(index: 0, op: .lessThan, value: 0)]]).isNothing)
        let contradiction = try ArgumentRegion(conjunctions: [[.init(index: 0, op: .equal, value: 1)]])
            .intersection(ArgumentRegion(conjunctions: [[.init(index: 0, op: .equal, value: 2)]]))
        #expect(contradiction.isNothing)
    }
}
