/// A set of argument tuples for one syscall, as a union of conjunctions, each with at most one
/// condition per argument (libseccomp refuses more in one rule).
///
/// Why this exists: Warden stacks a fixed baseline on any profile (R8). In libseccomp an
/// unconditional rule silently supersedes conditional rules for the same syscall, and a rule may
/// hold only one comparison per argument, so "allowed by the profile AND allowed by the
/// baseline" cannot be expressed by adding both rule sets. Instead the intersection is computed
/// here, exactly, and emitted as allow rules. Conditions on the same argument are combined by
/// rewriting them as ternary bit patterns (mask, value), which intersect exactly.
public struct ArgumentRegion: Sendable, Equatable, CustomStringConvertible {
    /// Each conjunction is sorted by argument index.
    public private(set) var conjunctions: [[ArgumentCondition]]

    /// The largest number of conjunctions one syscall may need; beyond it the profile is
    /// refused rather than compiled into a filter too big for the kernel.
    public static let limit = 512

    public struct TooComplex: Error, Sendable {}

    public init(conjunctions: [[ArgumentCondition]]) {
        // Tautologies drop out of a conjunction; a contradiction removes the conjunction.
        self.conjunctions = conjunctions.compactMap { conjunction -> [ArgumentCondition]? in
            var kept: [ArgumentCondition] = []
            for condition in conjunction {
                let patterns = BitPattern.patterns(of: condition)
                if patterns.isEmpty { return nil }
                if patterns.contains(.any) { continue }
                kept.append(condition)
            }
            return kept.sorted { $0.index < $1.index }
        }
    }

    public static let everything = ArgumentRegion(conjunctions: [[]])
    public static let nothing = ArgumentRegion(conjunctions: [])

    public var isEverything: Bool { conjunctions.contains { $0.isEmpty } }
    public var isNothing: Bool { conjunctions.isEmpty }

    /// One conjunction of conditions; conditions on the same argument are intersected.
    public static func all(_ conditions: [ArgumentCondition]) throws(TooComplex) -> ArgumentRegion {
        var region = ArgumentRegion.everything
        for condition in conditions {
            region = try region.intersection(ArgumentRegion(conjunctions: [[condition]]))
        }
        return region
    }

    /// Argument `index`, read as a `width`-bit value, is none of `values`.
    public static func notIn(index: Int, values: [UInt64], width: Int) -> ArgumentRegion {
        let top: UInt64 = width >= 64 ? .max : (1 << UInt64(width)) - 1
        let excluded = Set(values.map { $0 & top }).sorted()
        var patterns: [BitPattern] = []
        var low: UInt64 = 0
        var reachedTop = false
        for value in excluded {
            if value > low { patterns += BitPattern.covering(low, value - 1, width: width) }
            if value == top { reachedTop = true; break }
            low = value + 1
        }
        if !reachedTop { patterns += BitPattern.covering(low, top, width: width) }
        return ArgumentRegion(conjunctions: patterns.map { [$0.condition(index: index)].compactMap { $0 } })
    }

    public func matches(_ args: [UInt64]) -> Bool {
        conjunctions.contains { conjunction in conjunction.allSatisfy { $0.matches(args) } }
    }

    public func union(_ other: ArgumentRegion) -> ArgumentRegion {
        if isEverything || other.isEverything { return .everything }
        var result = ArgumentRegion(conjunctions: conjunctions + other.conjunctions)
        result.simplify()
        return result
    }

    public func intersection(_ other: ArgumentRegion) throws(TooComplex) -> ArgumentRegion {
        if isNothing || other.isNothing { return .nothing }
        if isEverything { return other }
        if other.isEverything || self == other { return self }
        var result: [[ArgumentCondition]] = []
        for left in conjunctions {
            for right in other.conjunctions {
                result += try ArgumentRegion.intersect(left, right)
                if result.count > ArgumentRegion.limit * 8 { throw TooComplex() }
            }
        }
        var region = ArgumentRegion(conjunctions: result)
        region.simplify()
        if region.conjunctions.count > ArgumentRegion.limit { throw TooComplex() }
        return region
    }

    public func complement() throws(TooComplex) -> ArgumentRegion {
        if isNothing { return .everything }
        if isEverything { return .nothing }
        if let excluded = valueSet() { return .notIn(index: excluded.index, values: excluded.values, width: excluded.width) }
        var result = ArgumentRegion.everything
        for conjunction in conjunctions {
            // not (c1 and c2 ...) = (not c1) or (not c2) ...
            var negated = ArgumentRegion.nothing
            for condition in conjunction {
                negated = negated.union(ArgumentRegion(conjunctions: ArgumentRegion.negate(condition).map { [$0] }))
                if negated.isEverything { break }
            }
            result = try result.intersection(negated)
            if result.isNothing { break }
        }
        return result
    }

    /// When the region is "argument i equals one of these values" (on its low 32 bits or on all
    /// 64), returns that set: its complement is then a compact interval cover rather than a
    /// bit-by-bit product.
    func valueSet() -> (index: Int, values: [UInt64], width: Int)? {
        var index: Int?, width: Int?, values: [UInt64] = []
        for conjunction in conjunctions {
            guard conjunction.count == 1 else { return nil }
            let condition = conjunction[0]
            let conditionWidth: Int
            switch condition.op {
            case .equal: conditionWidth = 64
            case .maskedEqual where condition.value == 0xffff_ffff: conditionWidth = 32
            default: return nil
            }
            if index == nil { index = condition.index; width = conditionWidth }
            guard index == condition.index, width == conditionWidth else { return nil }
            values.append(condition.op == .equal ? condition.value : condition.valueTwo)
        }
        guard let index, let width else { return nil }
        return (index, values, width)
    }

    public var description: String {
        if isNothing { return "never" }
        if isEverything { return "always" }
        return conjunctions.map { $0.map(\.description).joined(separator: " && ") }.joined(separator: " || ")
    }

    // MARK: - Internals

    private static func negate(_ condition: ArgumentCondition) -> [ArgumentCondition] {
        let i = condition.index, v = condition.value
        switch condition.op {
        case .equal:
            var parts: [ArgumentCondition] = []
            if v > 0 { parts.append(ArgumentCondition(index: i, op: .lessThan, value: v)) }
            if v < .max { parts.append(ArgumentCondition(index: i, op: .greaterThan, value: v)) }
            return parts
        case .notEqual: return [ArgumentCondition(index: i, op: .equal, value: v)]
        case .lessThan: return [ArgumentCondition(index: i, op: .greaterOrEqual, value: v)]
        case .lessOrEqual: return [ArgumentCondition(index: i, op: .greaterThan, value: v)]
        case .greaterOrEqual: return [ArgumentCondition(index: i, op: .lessThan, value: v)]
        case .greaterThan: return [ArgumentCondition(index: i, op: .lessOrEqual, value: v)]
        case .maskedEqual:
            let mask = v, expected = condition.valueTwo
            if expected & ~mask != 0 { return [.masked(i, mask: 0, equals: 0)] }  // never true: negation is a tautology
            return (0..<64).compactMap { bit -> ArgumentCondition? in
                let b: UInt64 = 1 << UInt64(bit)
                guard mask & b != 0 else { return nil }
                return .masked(i, mask: b, equals: ~expected & b)
            }
        }
    }

    /// Intersects two conjunctions; may split into several when same-argument conditions
    /// combine into more than one bit pattern.
    private static func intersect(_ left: [ArgumentCondition], _ right: [ArgumentCondition]) throws(TooComplex) -> [[ArgumentCondition]] {
        var byIndex: [Int: [ArgumentCondition]] = [:]
        for condition in left + right { byIndex[condition.index, default: []].append(condition) }
        var alternatives: [[ArgumentCondition]] = [[]]
        for index in byIndex.keys.sorted() {
            let conditions = Array(Set(byIndex[index] ?? []))
            var options: [ArgumentCondition?]
            if conditions.count == 1 {
                options = [conditions[0]]
            } else {
                var patterns = [BitPattern.any]
                for condition in conditions {
                    let next = BitPattern.patterns(of: condition)
                    var combined: [BitPattern] = []
                    for a in patterns {
                        for b in next { if let both = a.intersect(b) { combined.append(both) } }
                    }
                    patterns = BitPattern.minimize(combined)
                    if patterns.count > limit { throw TooComplex() }
                }
                options = patterns.map { $0.condition(index: index) }
            }
            if options.isEmpty { return [] }
            var next: [[ArgumentCondition]] = []
            for partial in alternatives {
                for option in options { next.append(option.map { partial + [$0] } ?? partial) }
            }
            alternatives = next
            if alternatives.count > limit { throw TooComplex() }
        }
        return alternatives
    }

    /// Removes duplicates and conjunctions contained in another one.
    private mutating func simplify() {
        var unique: [[ArgumentCondition]] = []
        var seen = Set<[ArgumentCondition]>()
        for conjunction in conjunctions where seen.insert(conjunction).inserted { unique.append(conjunction) }
        if unique.contains(where: { $0.isEmpty }) {
            conjunctions = [[]]
            return
        }
        var kept: [[ArgumentCondition]] = []
        for (i, candidate) in unique.enumerated() {
            let absorbed = unique.enumerated().contains { j, other in
                j != i && ArgumentRegion.implies(candidate, other) && !(ArgumentRegion.implies(other, candidate) && j > i)
            }
            if !absorbed { kept.append(candidate) }
        }
        conjunctions = kept
    }

    /// True when every tuple satisfying `narrow` satisfies `wide` (sufficient test).
    private static func implies(_ narrow: [ArgumentCondition], _ wide: [ArgumentCondition]) -> Bool {
        for condition in wide {
            guard let match = narrow.first(where: { $0.index == condition.index }) else { return false }
            if match == condition { continue }
            let inner = BitPattern.patterns(of: match), outer = BitPattern.patterns(of: condition)
            guard inner.allSatisfy({ p in outer.contains { $0.contains(p) } }) else { return false }
        }
        return true
    }
}

/// A ternary pattern on a 64-bit value: bits in `mask` must equal those in `value`.
struct BitPattern: Hashable {
    let mask: UInt64
    let value: UInt64

    static let any = BitPattern(mask: 0, value: 0)

    func intersect(_ other: BitPattern) -> BitPattern? {
        if (value ^ other.value) & mask & other.mask != 0 { return nil }
        return BitPattern(mask: mask | other.mask, value: value | other.value)
    }

    /// True when every value matching `other` matches self.
    func contains(_ other: BitPattern) -> Bool {
        mask & other.mask == mask && other.value & mask == value
    }

    func condition(index: Int) -> ArgumentCondition? {
        if mask == 0 { return nil }
        if mask == .max { return ArgumentCondition(index: index, op: .equal, value: value) }
        return .masked(index, mask: mask, equals: value)
    }

    static func minimize(_ patterns: [BitPattern]) -> [BitPattern] {
        let unique = Array(Set(patterns))
        return unique.filter { candidate in !unique.contains { $0 != candidate && $0.contains(candidate) } }
    }

    /// Bits k...63 set.
    private static func from(_ k: Int) -> UInt64 { k >= 64 ? 0 : ~UInt64(0) << UInt64(k) }

    static func patterns(of condition: ArgumentCondition) -> [BitPattern] {
        let v = condition.value
        switch condition.op {
        case .maskedEqual:
            return condition.valueTwo & ~v != 0 ? [] : [BitPattern(mask: v, value: condition.valueTwo)]
        case .equal:
            return [BitPattern(mask: .max, value: v)]
        case .notEqual:
            return (0..<64).map { k in
                let bit: UInt64 = 1 << UInt64(k)
                return BitPattern(mask: from(k), value: (v & from(k + 1)) | (~v & bit))
            }
        case .lessThan:
            return below(v)
        case .lessOrEqual:
            return v == .max ? [.any] : below(v + 1)
        case .greaterThan:
            return above(v)
        case .greaterOrEqual:
            return v == 0 ? [.any] : above(v - 1)
        }
    }

    /// Values strictly below v: for each set bit k of v, agree above k and have 0 at k.
    private static func below(_ v: UInt64) -> [BitPattern] {
        (0..<64).compactMap { k in
            let bit: UInt64 = 1 << UInt64(k)
            guard v & bit != 0 else { return nil }
            return BitPattern(mask: from(k), value: v & from(k + 1))
        }
    }

    /// Values strictly above v: for each clear bit k of v, agree above k and have 1 at k.
    private static func above(_ v: UInt64) -> [BitPattern] {
        (0..<64).compactMap { k in
            let bit: UInt64 = 1 << UInt64(k)
            guard v & bit == 0 else { return nil }
            return BitPattern(mask: from(k), value: (v & from(k + 1)) | bit)
        }
    }

    /// Aligned blocks covering [low, high] within the low `width` bits (upper bits free).
    static func covering(_ low: UInt64, _ high: UInt64, width: Int) -> [BitPattern] {
        let widthMask: UInt64 = width >= 64 ? .max : (1 << UInt64(width)) - 1
        var patterns: [BitPattern] = []
        var start = low
        while true {
            var size = 0
            while size < width {
                let blockBits = size + 1
                let blockMask: UInt64 = blockBits >= 64 ? .max : (1 << UInt64(blockBits)) - 1
                if start & blockMask != 0 { break }
                let end = start | blockMask
                if end > high { break }
                size = blockBits
            }
            let sizeMask: UInt64 = size >= 64 ? .max : (1 << UInt64(size)) - 1
            patterns.append(BitPattern(mask: widthMask & ~sizeMask, value: start))
            let end = start | sizeMask
            if end >= high { break }
            start = end + 1
        }
        return patterns
    }
}
