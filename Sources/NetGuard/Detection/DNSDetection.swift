import Policy

/// The DNS rules: on each query before it is forwarded (so `block` can answer REFUSED), and
/// on each answer before it is delivered.
extension SandboxDetector {
    func query(name: String, type: UInt16, now: UInt64) -> [DetectionFinding] {
        var findings: [DetectionFinding] = []
        if type == DNSRecordType.null || type == 65399 {
            findings.append(DetectionFinding(.tunnelRecordType, "record type \(type == 10 ? "NULL" : "65399") carries DNS tunnels (iodine)", evidence: "type=\(type)"))
        }
        if let found = checks.exfilService(host: name) { findings.append(found) }
        if let found = checks.longName(name) { findings.append(found) }
        if let found = checks.encodingMarker(name, serverName: false) { findings.append(found) }
        let (registered, subdomain) = checks.subdomain(of: name)
        // Data split over many queries is read as one stream per registered domain: the
        // subdomain's characters are appended to what the domain's last queries carried.
        var window = dns.trail(registered)
        window += subdomain.utf8.filter { $0 != 0x2E }
        if let found = window.withUnsafeBytes({ plantedValue(in: $0, host: nil, place: "DNS query names", inName: true) }) { findings.append(found) }
        findings += dns.query(registered: registered, subdomain: subdomain, name: name, now: now)
        dns.keepTrail(registered, Array(window.suffix(max(256, plantedInNames.overlap))))
        return findings
    }

    /// `longestTXT`: the longest TXT string of the answer; `characters`: what the answer
    /// carries (rdata text and addresses), for the volume rule.
    func answer(name: String, rcode: UInt8, messageBytes: Int, longestTXT: Int, characters: Int, now: UInt64) -> [DetectionFinding] {
        var findings: [DetectionFinding] = []
        let txtLimit = Int(policy.value(.txtAnswerLength)), sizeLimit = Int(policy.value(.dnsMessageBytes))
        if longestTXT > txtLimit {
            findings.append(DetectionFinding(.largeAnswer, "a TXT answer of \(longestTXT) characters (more than \(txtLimit)) for \(name.prefix(80))",
                                             evidence: "txt=\(longestTXT); message=\(messageBytes)"))
        } else if messageBytes > sizeLimit {
            findings.append(DetectionFinding(.largeAnswer, "a DNS answer of \(messageBytes) bytes (more than \(sizeLimit)) for \(name.prefix(80))",
                                             evidence: "message=\(messageBytes)"))
        }
        if rcode == 3, let burst = dns.nxdomain(now: now) { findings.append(burst) }
        if let volume = dns.answered(characters: characters) { findings.append(volume) }
        return findings
    }
}
