import Policy

/// The addresses each name resolved to in this sandbox's own DNS answers, and the names behind
/// each address. R20: a connection is bound to a name only when its destination came from an
/// answer for that name, so a program cannot claim `pypi.org` in its SNI while dialling an
/// address of its choosing. Entries live as long as the sandbox (programs keep addresses past
/// a record's TTL); the table is bounded, oldest names dropped first.
struct DNSAnswerCache {
    private var addressesByName: [String: Set<IPAddress>] = [:]
    private var namesByAddress: [IPAddress: [String]] = [:]
    private var order: [String] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int = 65_536) {
        self.capacity = capacity
    }

    var count: Int { addressesByName.count }

    mutating func remember(name: String, addresses: [IPAddress]) {
        guard !addresses.isEmpty else { return }
        if addressesByName[name] == nil {
            if addressesByName.count >= capacity { evictOldest() }
            order.append(name)
        }
        for address in addresses {
            let canonical = address.canonical
            if addressesByName[name, default: []].insert(canonical).inserted {
                var names = namesByAddress[canonical, default: []]
                if !names.contains(name) { names.append(name) }
                namesByAddress[canonical] = names
            }
        }
    }

    private mutating func evictOldest() {
        while head < order.count {
            let name = order[head]
            head += 1
            guard let addresses = addressesByName.removeValue(forKey: name) else { continue }
            for address in addresses {
                namesByAddress[address]?.removeAll { $0 == name }
                if namesByAddress[address]?.isEmpty == true { namesByAddress[address] = nil }
            }
            break
        }
        if head > 4096 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    func resolved(_ name: String, to address: IPAddress) -> Bool {
        addressesByName[name]?.contains(address.canonical) ?? false
    }

    func names(for address: IPAddress) -> [String] {
        namesByAddress[address.canonical] ?? []
    }
}
