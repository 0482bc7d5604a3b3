// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "warden",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .executable(name: "warden-admin", targets: ["warden-admin"]),
        .executable(name: "warden-bench", targets: ["warden-bench"]),
        .executable(name: "warden-notify", targets: ["warden-notify"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, wrapped through pkg-config. Only Sandbox and WardenSystem import them.
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // TLS inspection in the network guard (OpenSSL's libssl); only NetGuard/TLS imports it.
        .systemLibrary(name: "CTLS", pkgConfig: "libssl", providers: [.apt(["libssl-dev"])]),
        // Only `warden-notify` (dynamically linked: libcurl's dependencies have no static builds).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // The one hand-written C target: code that runs between clone and exec, and syscalls
        // libc does not wrap. Every symbol is prefixed `wd_`.
        .target(name: "CWardenShim", linkerSettings: [.linkedLibrary("cap")]),

        // A thin layer over Linux: descriptors, errno, poll, signals, terminals, hashing.
        .target(name: "WardenSystem", dependencies: ["CWardenShim"]),
        // Isolation: namespaces, mounts, identity, seccomp, Landlock, cgroups, rlimits.
        .target(name: "Sandbox", dependencies: ["WardenSystem", "CWardenShim", "CSeccomp", "CCap"]),
        // The org policy: model, decisions, matchers. Pure: no I/O, no clock.
        .target(name: "Policy"),
        // Durable state (SQLite through its C API): policy versions, history, decisions.
        .target(name: "Store", dependencies: ["Policy", "WardenSystem", "CSQLite", "CCrypto"]),
        // The network guard: each sandbox's egress captured in its own network namespace, judged
        // by policy, relayed (splice) or refused, every decision recorded; HTTPS terminated with
        // the sandbox's own CA so that every request inside is judged too.
        .target(name: "NetGuard", dependencies: ["Policy", "Store", "WardenSystem", "CWardenShim", "CTLS"]),
        // Background agents: environments (.cursor/environment.json), lifecycle, workspaces, the
        // supervisor, and each agent's owner process (a sandbox with its network guard).
        .target(name: "Agent", dependencies: ["Sandbox", "NetGuard", "Store", "Policy", "WardenSystem"]),
        // `warden` commands.
        .target(
            name: "WardenCLI",
            dependencies: [
                "Sandbox", "WardenSystem", "Policy", "Store", "NetGuard", "Agent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // `warden-admin` commands.
        .target(
            name: "Admin",
            dependencies: [
                "Sandbox", "WardenSystem", "Policy", "Store",
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "warden", dependencies: ["WardenCLI"]),
        .executableTarget(name: "warden-admin", dependencies: ["Admin"]),
        .executableTarget(name: "warden-bench", dependencies: ["WardenSystem", "Sandbox", "Policy", "Store", "NetGuard", "Agent"]),
        .executableTarget(name: "warden-notify", dependencies: ["CCurl", "CWardenShim"]),

        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "WardenSystem"]),
        .testTarget(name: "NetGuardTests", dependencies: ["NetGuard", "Policy", "Store", "WardenSystem"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Store", "Admin"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Policy", "WardenSystem"]),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "WardenCLI", "Admin", "Sandbox", "WardenSystem", "Policy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Fixtures (attack scripts, C programs) are used from the source tree, not compiled by SwiftPM.
        .testTarget(name: "EscapeTests", dependencies: ["WardenSystem", "Store"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
