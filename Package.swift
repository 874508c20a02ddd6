// swift-tools-version: 6.1
import PackageDescription

/// Linker settings that put the Swift runtime and Foundation inside the executable (see the
/// comment at warden-sandbox); the group lets the linker resolve their cross-references. Release
/// builds only: a debug test bundle links the executables' modules, and XCTest and Testing have no
/// static libraries.
let staticRuntime: [LinkerSetting] = [.unsafeFlags(["-static-stdlib", "-Xlinker", "--start-group", "-Xlinker", "-lFoundation", "-Xlinker", "-lFoundationEssentials", "-Xlinker", "-lFoundationInternationalization", "-Xlinker", "-lCoreFoundation", "-Xlinker", "-l_FoundationICU", "-Xlinker", "-l_FoundationCShims", "-Xlinker", "-l_FoundationCollections", "-Xlinker", "-lswift_RegexParser", "-Xlinker", "-lswift_StringProcessing", "-Xlinker", "-lswiftSynchronization", "-Xlinker", "-lswift_Concurrency", "-Xlinker", "-lswiftDispatch", "-Xlinker", "-ldispatch", "-Xlinker", "-lBlocksRuntime", "-Xlinker", "-lswiftCore", "-Xlinker", "-lstdc++", "-Xlinker", "--end-group"], .when(configuration: .release))]

let package = Package(
    name: "Warden",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wardend", targets: ["wardend"]),
        .executable(name: "wardenctl", targets: ["wardenctl"]),
        .executable(name: "warden-sandbox", targets: ["warden-sandbox"]),
        .executable(name: "warden-agent", targets: ["warden-agent"]),
        .executable(name: "warden-mcp", targets: ["warden-mcp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C: libseccomp through pkg-config, plus inline wrappers for its function-like macros.
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        // C: the few Linux calls Swift cannot make directly (variadic syscall(2), ifreq, capset).
        .target(name: "CWardenLinux"),
        // C: SHA-256 compression on the x86 SHA instructions, two messages interleaved (verify).
        .target(name: "CWardenSHA"),
        // C: confined path resolution (openat2, renameat2) and per-thread credentials.
        .target(name: "CWardenWorld"),
        // Bounded streaming decompression (zlib, liblzma, libbz2): following bytes through archives.
        .target(name: "CWardenCodecs", linkerSettings: [.linkedLibrary("z"), .linkedLibrary("lzma"), .linkedLibrary("bz2")]),

        // What crosses a process boundary: JSON values and their canonical form, coded errors,
        // line-framed fd I/O. No Foundation: the sandboxed agent runtime links only this and
        // WardenProtocol, so it starts (and exits) without Foundation's static image.
        .target(name: "WardenWire"),
        // Shared helpers on top (re-exporting WardenWire): YAML with source locations, Codable
        // bridges, policy lookup, directories, kernel files.
        .target(
            name: "WardenCore",
            dependencies: ["WardenWire", .product(name: "Yams", package: "Yams")]
        ),
        // Names every part shares, and nothing else: audit event kinds with their payload types,
        // tool and verdict names, JSON-RPC error codes, the control API's requests and replies.
        // WardenWire only, so the agent runtime still links no Foundation.
        .target(name: "WardenVocabulary", dependencies: ["WardenWire"]),
        // Wire formats: JSON-RPC 2.0, the MCP subset, warden/* extensions (re-exports the vocabulary).
        .target(name: "WardenProtocol", dependencies: ["WardenWire", "WardenVocabulary"]),
        // The sandbox's spec and the launcher's report, the seccomp rules and their compiler, the
        // supervision table: what the launcher and the daemon share, with no Foundation.
        .target(name: "WardenSandboxSpec", dependencies: ["WardenWire", "CSeccomp"]),
        // WardenSandboxSpec (re-exported) plus what reads the policy files (YAML) and the host,
        // and the shell's and Inspect's messages.
        .target(name: "WardenSandbox", dependencies: ["WardenCore", "WardenSandboxSpec", "CSeccomp", "CWardenLinux"]),
        // The daemon's side of a sandbox: spawning launchers (and the zygote), their cgroups,
        // and supervising their syscalls through the seccomp listener.
        .target(name: "WardenSandboxHost", dependencies: ["WardenCore", "WardenVocabulary", "WardenSandbox", "CSeccomp", "CWardenLinux"]),
        // The hash-chained audit log in SQLite.
        .target(
            name: "WardenAudit",
            dependencies: [
                "WardenCore", "WardenVocabulary",
                "CWardenSHA",
                "CWardenLinux",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Scenario files, the world they build, snapshots and diffs, detectors and verdicts.
        .target(
            name: "WardenScenario",
            dependencies: ["WardenCore", "WardenVocabulary", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // A run's world on disk, reached only through descriptors and with the agent's rights.
        .target(
            name: "WardenWorld",
            dependencies: ["WardenCore", "WardenVocabulary", "WardenScenario", "CWardenWorld", "CWardenCodecs",
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Verdicts from a run's audit log alone: the world's history, detectors, triggers. Reads
        // no file: what it judges is in the events it is given.
        .target(name: "WardenVerdicts", dependencies: ["WardenCore", "WardenVocabulary", "WardenScenario"]),
        // Suite reports: verdict rates per cell with Wilson intervals, contrasts, table/CSV/HTML.
        .target(name: "WardenReport", dependencies: ["WardenCore", "WardenVocabulary"]),
        // The broker: the agent-facing JSON-RPC session, tools, broker policy, model gateway.
        .target(
            name: "WardenBroker",
            dependencies: ["WardenCore", "WardenProtocol", "WardenAudit", "WardenScenario", "WardenWorld", "WardenVerdicts",
                           .product(name: "Logging", package: "swift-log")]
        ),
        // Scripted stand-ins for models (`scripted/PROFILE`), for tests and the demo: they act only
        // through the broker, as a model would. Outside the broker, which knows models only as
        // `ModelBackend`s.
        .target(
            name: "WardenScriptedModels",
            dependencies: ["WardenCore", "WardenProtocol", "WardenBroker", "WardenVerdicts"]
        ),
        // The daemon: control server, runs, agent lifecycle.
        .target(
            name: "WardenDaemon",
            dependencies: [
                "WardenCore", "WardenVocabulary", "WardenProtocol", "WardenSandbox", "WardenSandboxHost", "WardenAudit", "WardenScenario", "WardenWorld",
                "WardenVerdicts", "WardenBroker", "WardenScriptedModels", "WardenReport", "CWardenLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(
            name: "wardend",
            dependencies: [
                "WardenDaemon", "WardenBroker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "wardenctl",
            dependencies: [
                "WardenCore", "WardenProtocol", "WardenScenario", "WardenAudit", "WardenReport", "WardenVerdicts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Both start once per agent: linked statically, they skip the dynamic loader's symbol
        // binding of the Swift runtime and Foundation at every start (docs/performance.md).
        .executableTarget(name: "warden-sandbox", dependencies: ["WardenCore", "WardenSandbox", "CWardenLinux"],
                          linkerSettings: staticRuntime),
        // The agent runtime needs libc and nothing of Foundation: one static executable, which
        // the kernel maps and starts with no dynamic loader and no relocations at all.
        .executableTarget(name: "warden-agent", dependencies: ["WardenWire", "WardenProtocol"],
                          linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),
        // The stdio <-> fd 3 relay for MCP clients inside a sandbox; libc only.
        .executableTarget(name: "warden-mcp"),

        // A stand-in model server (HTTP on 127.0.0.1 with canned replies) for tests and the benchmark.
        .target(
            name: "ModelServerStub",
            dependencies: [
                "WardenCore",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The benchmark program behind scripts/bench (release build).
        .executableTarget(
            name: "warden-bench",
            dependencies: ["WardenCore", "WardenProtocol", "WardenAudit", "WardenScenario", "WardenWorld", "WardenBroker", "WardenSandbox", "WardenSandboxHost", "WardenDaemon",
                           "ModelServerStub", "CWardenLinux", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),

        // Seeded hostile inputs shared by the broker's fuzz tests (in-process and from a sandbox).
        .target(name: "WardenFuzzing", dependencies: ["WardenCore"], path: "Tests/WardenFuzzing"),
        .testTarget(name: "WardenCoreTests", dependencies: ["WardenCore"]),
        .testTarget(name: "WardenVocabularyTests", dependencies: ["WardenVocabulary", "WardenWire"]),
        // The corpus of broken scenario and policy files (Tests/Fixtures/bad-files).
        .testTarget(name: "BadFileTests", dependencies: ["WardenCore", "WardenScenario", "WardenSandbox", "WardenBroker"]),
        .testTarget(name: "WardenSandboxTests", dependencies: ["WardenSandbox", "WardenSandboxHost", "WardenCore", "CWardenLinux"]),
        .testTarget(
            name: "WardenAuditTests",
            dependencies: ["WardenAudit", "WardenCore", "WardenVocabulary", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(name: "WardenScenarioTests", dependencies: ["WardenScenario", "WardenCore"]),
        .testTarget(name: "WardenVerdictsTests", dependencies: ["WardenVerdicts", "WardenScenario", "WardenVocabulary", "WardenCore"]),
        .testTarget(name: "WardenWorldTests", dependencies: ["WardenWorld", "WardenScenario", "WardenVerdicts", "WardenCore", "WardenVocabulary", "CWardenWorld"]),
        .testTarget(name: "WardenDaemonTests", dependencies: ["WardenDaemon", "WardenSandbox", "WardenSandboxHost", "WardenCore", "WardenVocabulary",
                                                             .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "WardenReportTests", dependencies: ["WardenReport", "WardenCore"]),
        .testTarget(
            name: "WardenBrokerTests",
            dependencies: [
                "WardenBroker", "WardenScriptedModels", "WardenProtocol", "WardenAudit", "WardenScenario", "WardenWorld", "WardenCore", "ModelServerStub", "WardenFuzzing",
            ]
        ),
        // Drives the real binaries: wardend, wardenctl, warden-sandbox, warden-agent.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "WardenCore", "WardenVocabulary", "WardenProtocol", "WardenAudit", "CWardenLinux", "WardenFuzzing",
                .product(name: "GRDB", package: "GRDB.swift"),
                "wardend", "wardenctl", "warden-sandbox", "warden-agent", "warden-mcp",
            ],
            exclude: ["Fixtures"]
        ),
    ]
)
