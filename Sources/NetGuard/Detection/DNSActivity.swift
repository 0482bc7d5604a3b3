import Policy

/// The count rules over a sandbox's DNS (14, 17, 19), kept as the queries come so each fires
/// on the query that crosses its threshold. Windows slide; every table is bounded.
struct DNSActivity {
    struct Domain {
        /// Counted (long enough) unique subdomains → when first seen, within the hour.
        var subdomains: [String: UInt64] = [:]
        /// Long unique subdomains within 5 minutes.
        var longNames: [String: UInt64] = [:]
        /// Query times within 5 minutes.
        var queries: [UInt64] = []
        var firedLevel: DetectionSeverity?
        var firedAt: UInt64 = 0
        /// Information in distinct names today (rule 17, per domain).
        var informationBytes = 0
        var dayStarted: UInt64 = 0
        var volumeFired = false
        /// The last characters the domain's subdomains carried, in query order (rule 8 over
        /// data split across queries).
        var trail: [UInt8] = []
        var prunedAt: UInt64 = 0
    }

    private(set) var domains: [String: Domain] = [:]
    private var distinct: Set<String> = []
    private(set) var volumeCharacters = 0
    private var volumeFired = false
    private var nxdomains: [UInt64] = []
    private var nxdomainFiredAt: UInt64?

    private var counted = 12, perHour = 8, longLength = 24, longNames = 15, tunnelQueries = 25, critical = 100
    private var volumeLimit = 10_000, domainPerDay = 4_096, nxBurst = 50
    private var nxWindow: UInt64 = 60_000_000_000

    static let hour: UInt64 = 3_600_000_000_000
    static let fiveMinutes: UInt64 = 300_000_000_000
    static let day: UInt64 = 86_400_000_000_000
    /// Bound on remembered names per domain and distinct names per sandbox.
    static let tableLimit = 8_192

    mutating func configure(_ policy: DetectionPolicy) {
        counted = Int(policy.value(.countedSubdomainLength))
        perHour = Int(policy.value(.subdomainsPerHour))
        longLength = Int(policy.value(.tunnelLongLength))
        longNames = Int(policy.value(.tunnelLongNames))
        tunnelQueries = Int(policy.value(.tunnelQueries))
        critical = Int(policy.value(.subdomainsCritical))
        volumeLimit = Int(policy.value(.dnsVolumeCharacters))
        domainPerDay = Int(policy.value(.domainBytesPerDay))
        nxBurst = Int(policy.value(.nxdomainBurst))
        nxWindow = UInt64(min(policy.value(.nxdomainWindowSeconds), 86_400) * 1_000_000_000)
    }

    /// Rule 14 (and 17's per-domain part) for one query of `subdomain` under `registered`.
    mutating func query(registered: String, subdomain: String, name: String, now: UInt64) -> [DetectionFinding] {
        var findings: [DetectionFinding] = []
        var domain = domains[registered] ?? Domain()
        domain.queries.append(now)
        domain.queries.removeAll { now - $0 > Self.fiveMinutes }
        if domain.queries.count > Self.tableLimit { domain.queries.removeFirst(domain.queries.count - Self.tableLimit) }
        let sub = subdomain.filter { $0 != "." }
        if sub.count >= counted, domain.subdomains[subdomain] == nil, domain.subdomains.count < Self.tableLimit {
            domain.subdomains[subdomain] = now
        }
        if sub.count >= longLength, domain.longNames[subdomain] == nil, domain.longNames.count < Self.tableLimit {
            domain.longNames[subdomain] = now
        }
        // Windows slide, pruned at most every 10 s per domain (not on every query).
        if now - domain.prunedAt >= 10_000_000_000 {
            domain.prunedAt = now
            domain.subdomains = domain.subdomains.filter { now - $0.value <= Self.hour }
            domain.longNames = domain.longNames.filter { now - $0.value <= Self.fiveMinutes }
        }
        if domain.firedLevel != nil && now - domain.firedAt > Self.hour { domain.firedLevel = nil }

        var level: DetectionSeverity?
        var why = ""
        if domain.subdomains.count > critical {
            level = .critical
            why = "\(domain.subdomains.count) unique subdomains of \(registered) within an hour (more than \(critical))"
        } else if domain.longNames.count >= longNames && domain.queries.count >= tunnelQueries {
            level = .high
            why = "\(domain.longNames.count) long unique names and \(domain.queries.count) queries to \(registered) within 5 minutes: the shape of a DNS tunnel"
        } else if domain.subdomains.count > perHour {
            level = .medium
            why = "\(domain.subdomains.count) unique data-shaped subdomains of \(registered) within an hour (more than \(perHour))"
        }
        if let level, domain.firedLevel.map({ level > $0 }) ?? true {
            domain.firedLevel = level
            domain.firedAt = now
            findings.append(DetectionFinding(.subdomainCount, severity: level, why,
                                             evidence: "domain=\(registered); subdomains=\(domain.subdomains.count); long=\(domain.longNames.count); queries5m=\(domain.queries.count)"))
        }

        // Rule 17: information carried by distinct names. Once the set of names seen is full,
        // every name counts (repeats included) rather than none: filling the set must not
        // switch the rule off.
        let new = distinct.count >= Self.tableLimit * 4 || distinct.insert(name).inserted
        if new {
            volumeCharacters += name.count
            if now - domain.dayStarted > Self.day {
                domain.dayStarted = now
                domain.informationBytes = 0
                domain.volumeFired = false
            }
            domain.informationBytes += sub.count
            if !domain.volumeFired && domain.informationBytes > domainPerDay {
                domain.volumeFired = true
                findings.append(DetectionFinding(.dnsVolume, "\(domain.informationBytes) bytes of names sent to \(registered) today (more than \(domainPerDay))",
                                                 evidence: "domain=\(registered); bytes=\(domain.informationBytes)"))
            }
        }
        if let volume = volumeFinding() { findings.append(volume) }
        domains[registered] = domain
        if domains.count > Self.tableLimit {
            // A hard bound: the quarter least recently queried go (an attacker's random
            // domains cannot grow the guard's memory).
            let keep = domains.sorted { ($0.value.queries.last ?? 0) > ($1.value.queries.last ?? 0) }.prefix(Self.tableLimit * 3 / 4)
            domains = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        return findings
    }

    func trail(_ registered: String) -> [UInt8] { domains[registered]?.trail ?? [] }

    /// Kept after `query` has recorded the domain (a domain seen for the first time exists then).
    mutating func keepTrail(_ registered: String, _ bytes: [UInt8]) {
        domains[registered]?.trail = bytes
    }

    /// Rule 17's sandbox-wide part for the characters of an answer.
    mutating func answered(characters: Int) -> DetectionFinding? {
        volumeCharacters += characters
        return volumeFinding()
    }

    private mutating func volumeFinding() -> DetectionFinding? {
        guard !volumeFired, volumeCharacters > volumeLimit else { return nil }
        volumeFired = true
        return DetectionFinding(.dnsVolume, "\(volumeCharacters) characters of distinct DNS queries and answers from this sandbox (more than \(volumeLimit))",
                                evidence: "characters=\(volumeCharacters)")
    }

    /// Rule 19: an NXDOMAIN from the upstream (Warden's own REFUSED answers never come here).
    mutating func nxdomain(now: UInt64) -> DetectionFinding? {
        nxdomains.append(now)
        nxdomains.removeAll { now - $0 > nxWindow }
        if nxdomains.count > Self.tableLimit { nxdomains.removeFirst(nxdomains.count - Self.tableLimit) }
        if let fired = nxdomainFiredAt, now - fired <= nxWindow { return nil }
        guard nxdomains.count > nxBurst else { return nil }
        nxdomainFiredAt = now
        return DetectionFinding(.nxdomainBurst, "\(nxdomains.count) NXDOMAIN answers within \(nxWindow / 1_000_000_000) s (more than \(nxBurst))",
                                evidence: "nxdomain=\(nxdomains.count)")
    }
}
