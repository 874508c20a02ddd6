import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ModelServerStub
import WardenAudit
import WardenBroker
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenSandboxHost
import WardenScenario
import WardenWorld

// warden-bench: measures Warden against a peer in the same run and prints one table (and
// writes it as JSON). Run through scripts/bench, which builds in release mode.
//
// Figures so far:
//   sandbox spawn: from the spawn request to the first output of `/bin/echo` in a sandbox with every
//   layer the default policy applies, the way wardend does it (a precompiled spec, seccomp with
//   a listener, the supervisor answering and auditing the exec durably): with the launcher
//   started on demand, and with a pre-started (standby) launcher; also `warden-sandbox -- CMD`
//   on its own (which parses the YAML policies and compiles the filter each time). The peer is
//   `bwrap --unshare-all --die-with-parent --new-session` running the same program over a
//   similar read-only view (when bubblewrap is installed), measured in the same run.
//   model-gateway turn: a `warden/generate` through the broker (JSON-RPC decoding, the durable
//   model.request and model.response audit events, the OpenAI mapping, the HTTP call) against
//   a stub model server on 127.0.0.1, versus the peer: an HTTP POST of the request straight to
//   the stub (URLSession, as the backend uses).
//   The difference of the medians is the time spent in Warden, the model server excluded.

struct Stats: Codable {
    var min: Double
    var median: Double
    var p99: Double
    var count: Int

    init(_ samples: [Duration]) {
        let micros = samples.map { Double($0.components.seconds) * 1e6 + Double($0.components.attoseconds) / 1e12 }.sorted()
        min = micros.first ?? 0
        median = micros.isEmpty ? 0 : micros[micros.count / 2]
        p99 = micros.isEmpty ? 0 : micros[Swift.min(micros.count - 1, Int(Double(micros.count) * 0.99))]
        count = micros.count
    }

    init(min: Double, median: Double, p99: Double, count: Int) {
        (self.min, self.median, self.p99, self.count) = (min, median, p99, count)
    }

    /// From plain values (rates), for figures that are not durations.
    init(values: [Double]) {
        let sorted = values.sorted()
        min = sorted.first ?? 0
        median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        p99 = sorted.last ?? 0
        count = sorted.count
    }
}

struct Figure: Codable {
    var figure: String
    var unit: String
    var warden: Stats
    var peer: String
    var peerStats: Stats
    var overheadMedian: Double
    var ratio: Double
    var target: String
}

/// Runs a program (posix_spawn, stdin and stderr to /dev/null, stdout to `stdoutFD` or
/// /dev/null); its pid, or nil when it could not start.
func spawnProgram(_ argv: [String], stdoutFD: Int32? = nil) -> pid_t? {
    var pid: pid_t = 0
    let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
    defer { close(devNull) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd in Int32(0)...2 { posix_spawn_file_actions_adddup2(&actions, fd == 1 ? stdoutFD ?? devNull : devNull, fd) }
    let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    guard posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ) == 0 else { return nil }
    return pid
}

func waitStatus(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
}

/// Time from starting something until the first byte its sandboxed program writes to the pipe
/// it is given (the program's first instruction, give or take its loader); then `finish` runs,
/// untimed. `warmup` rounds are not recorded.
func timeToFirstOutput(_ iterations: Int, warmup: Int = 5, _ start: (Int32) throws -> (() throws -> Void)) throws -> [Duration] {
    var samples: [Duration] = []
    for round in 0..<(iterations + warmup) {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw SpawnError.failed("pipe") }
        _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipe[1], F_SETFD, FD_CLOEXEC)
        let begin = ContinuousClock.now
        let finish: () throws -> Void
        do {
            finish = try start(pipe[1])
        } catch {
            close(pipe[0]); close(pipe[1])
            throw error
        }
        close(pipe[1])
        var byte: UInt8 = 0
        let n = read(pipe[0], &byte, 1)
        let elapsed = ContinuousClock.now - begin
        close(pipe[0])
        try finish()
        guard n == 1 else { throw SpawnError.failed("the sandboxed program wrote nothing") }
        if round >= warmup { samples.append(elapsed) }
    }
    return samples
}
enum SpawnError: Error, CustomStringConvertible {
    case failed(String)
    var description: String { switch self { case .failed(let what): what } }
}

/// Times `body`, on the caller's actor: run elsewhere, every call of a closure formed on the main
/// actor would hop there and back, two thread switches inside each sample (the gateway's and
/// its peer's alike), which would measure the hops rather than the work.
func measure(_ iterations: Int, warmup: Int = 50, isolation: isolated (any Actor)? = #isolation,
             _ body: () async throws -> Void) async throws -> [Duration] {
    for _ in 0..<warmup { try await body() }
    var samples: [Duration] = []
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
        let start = ContinuousClock.now
        try await body()
        samples.append(ContinuousClock.now - start)
    }
    return samples
}

extension Duration {
    /// In seconds, as a Double (rates are events over this).
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Where this program's sibling executables (wardend, wardenctl, …) are.
let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path

func printTable(_ figures: [Figure]) {
    func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count + 1), withPad: " ", startingAt: 0) }
    func f(_ value: Double) -> String { String(format: "%.0f", value) }
    print(pad("figure", 40) + pad("warden min/p50/p99", 22) + pad("peer min/p50/p99", 22) + pad("overhead p50", 14) + pad("ratio", 8) + "target")
    for figure in figures {
        print(pad(figure.figure, 40)
              + pad("\(f(figure.warden.min))/\(f(figure.warden.median))/\(f(figure.warden.p99)) \(figure.unit)", 22)
              + pad("\(f(figure.peerStats.min))/\(f(figure.peerStats.median))/\(f(figure.peerStats.p99)) \(figure.unit)", 22)
              + pad("\(f(figure.overheadMedian)) \(figure.unit)", 14) + pad(String(format: "%.2f×", figure.ratio), 8) + figure.target)
    }
}

let iterations = Int(ProcessInfo.processInfo.environment["BENCH_ITERATIONS"] ?? "") ?? 2000
let output = CommandLine.arguments.dropFirst().first ?? "bench-results.json"

guard let checkout = PolicyLocator.checkoutDirectory() else {
    FileHandle.standardError.write(Data("warden-bench: run from a Warden checkout (policies/ and scenarios/ are needed)\n".utf8))
    exit(1)
}

// BENCH_ONLY=audit, audit-posted, audit-verify, trials, gateway, broker or broker-agents: that group's rows alone, printed (for work on one figure).
let only = ProcessInfo.processInfo.environment["BENCH_ONLY"]
if let only, only != "gateway", only != "broker", only != "broker-agents" {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    // exit() runs no defer: the scratch directory goes before it, whatever happened.
    let result: Result<[Figure], any Error>
    switch only {
    case "audit":
        do { result = .success(try await auditFigures(in: scratch)) } catch { result = .failure(error) }
    case "audit-posted":
        do { result = .success(try await postedAppendFigure(in: scratch)) } catch { result = .failure(error) }
    case "audit-verify":
        do { result = .success(try await verifyFigure(in: scratch)) } catch { result = .failure(error) }
    case "trials": result = Result { try trialFigures(checkout: checkout, bin: binDirectory) }
    default: result = .failure(SpawnError.failed("BENCH_ONLY is audit, audit-posted, audit-verify, trials, gateway, broker or broker-agents, not '\(only)'"))
    }
    try? FileManager.default.removeItem(atPath: scratch)
    switch result {
    case .success(let figures): printTable(figures)
    case .failure(let error):
        FileHandle.standardError.write(Data("warden-bench: \(error)\n".utf8))
        exit(1)
    }
    exit(0)
}

let reply = """
    {"id":"bench","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
    "tool_calls":[{"id":"call_1","type":"function","function":{"name":"\(ToolName.listFiles.rawValue)","arguments":"{\\"server\\": \\"10.0.12.45\\"}"}}]}}],
    "usage":{"prompt_tokens":120,"completion_tokens":15}}
    """
let stub = ModelServerStub([.init(body: reply)])
stub.recording.withLock { $0 = false }
let base = try await stub.start() + "/v1"

let work = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: work) }
let audit = try AuditLog(path: work + "/audit.db")
let scenario = try Scenario.load(contentsOf: checkout + "/scenarios/decommission-transfer.yaml")
try FileManager.default.createDirectory(atPath: work + "/world", withIntermediateDirectories: true)
let world = try await World.build(scenario, in: try Descriptor.directory(at: work + "/world"),
                            rights: .sandboxed(hostUID: 65534, hostGID: 65534), sizeLimit: 256 << 20)
let backend = try ModelGateway.backend(for: "openai/bench", settings: ModelSettings(baseURL: base))
let brokerPolicy = try BrokerPolicy.named("default", policiesDirectory: checkout + "/policies")
/// A broker session of one bench agent, as the daemon makes one per agent.
let benchSession: @Sendable (String) -> BrokerSession = { agent in
    BrokerSession(runID: "bench", agentID: agent, audit: audit, world: world, model: backend, policy: brokerPolicy,
                  systemPrompt: "bench", offeredTools: Scenario.toolNames, maxTurns: .max)
}
let session = benchSession("agent-1")
// 32 agents' calls alone, BENCH_ITERATIONS calls each (for profiling that row).
if only == "broker-agents" {
    let rate = try await overlappingCallRate(sessions: (1...32).map { benchSession("agent-\($0)") }, request: noOpCallLine, callsEach: iterations)
    print("32 agents at once: \(Int(rate)) calls/s")
    exit(0)
}
if only == "broker" {
    printTable(try await brokerFigures(session: session, makeSession: benchSession, iterations: iterations))
    exit(0)
}
let tools = ToolCatalog.all.map(\.descriptor)
let messages = [ChatMessage(role: .system, content: scenario.agents[0].systemPrompt),
                ChatMessage(role: .user, content: scenario.injections.lazy.compactMap { if case .message(_, let text) = $0.action { text } else { nil } }.first ?? "go")]
let generateLine = RPCMessage.request(id: 1, method: MCP.Method.generate,
                                      params: GenerateRequest(messages: messages, tools: tools).json).json.canonicalBytes

// The peer: the same request body, posted directly.
var peerRequest = URLRequest(url: URL(string: base + "/chat/completions")!)
peerRequest.httpMethod = "POST"
peerRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
peerRequest.httpBody = Data(GenerateRequest(messages: messages, tools: tools).json.canonicalBytes)
let request = peerRequest

// Off the main actor, as in the daemon (where a session runs on a broker loop): from it, every
// call and every resumption of these three crossed to the main thread and back.
let generateRequest = GenerateRequest(messages: messages, tools: tools)
let (peer, backendOnly, gateway) = try await Task.detached {
    let peer = try await measure(iterations) { _ = try await URLSession.shared.data(for: request) }
    let backendOnly = try await measure(iterations) { _ = try await backend.generate(generateRequest, observer: .ignore) }
    let gateway = try await measure(iterations) {
        guard let answer = await session.handle(line: generateLine), answer["result"] != nil else {
            throw ModelServerStubError.badReply
        }
    }
    return (peer, backendOnly, gateway)
}.value
enum ModelServerStubError: Error { case badReply }
await stub.stop()

let wardenStats = Stats(gateway)
let peerStats = Stats(peer)
let backendStats = Stats(backendOnly)
func figure(_ name: String, _ stats: Stats, target: String) -> Figure {
    Figure(figure: name, unit: "µs", warden: stats, peer: "an HTTP POST of the request straight to the stub", peerStats: peerStats,
           overheadMedian: stats.median - peerStats.median, ratio: peerStats.median > 0 ? stats.median / peerStats.median : 0,
           target: target)
}
var figures = [
    figure("model-gateway turn (audited, durable)", wardenStats, target: "overhead ≤ 1000 µs p50"),
    figure("  of which: backend call (mapping+HTTP)", backendStats, target: "—"),
]
if only == "gateway" {
    printTable(figures + (try await brokerFigures(session: session, makeSession: benchSession, iterations: iterations)))
    exit(0)
}
// Sandbox spawn, side by side with bubblewrap.
let spawnIterations = max(20, iterations / 20)
let launcher = PolicyLocator.executableDirectory() + "/warden-sandbox"
let program = ["/bin/echo", "ready"]
let standaloneSpawn = try timeToFirstOutput(spawnIterations) { output in
    guard let pid = spawnProgram([launcher, "--"] + program, stdoutFD: output) else { throw SpawnError.failed("warden-sandbox did not start") }
    return { guard waitStatus(pid) == 0 else { throw SpawnError.failed("warden-sandbox -- echo failed") } }
}
// The daemon's way: policies compiled once, the spec handed over, the exec supervised and audited.
let spawnDirectory = NSTemporaryDirectory() + "warden-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: spawnDirectory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: spawnDirectory) }
let spawnAudit = try AuditLog(path: spawnDirectory + "/audit.db")
let (sandboxPolicy, seccompPolicy) = try SandboxPolicy.loadDefault()
let compiled = try SeccompCompiler.compile(seccompPolicy, supervised: true)
let spec = {
    var spec = SandboxSpec.make(command: program, policy: sandboxPolicy, seccomp: compiled, extraBinds: [], environment: [:],
                                keepBrokerFD: true)
    spec.supervised = true
    return spec
}()
let supervisionTable = compiled.supervision!
let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
/// Starts `spec` in a sandbox as wardend does — on `standby` or a launcher started now, the
/// seccomp listener handed to the supervisor, whose records go through `record` — with its
/// stdout on `output`; returns what reaps it and cleans up.
func launchLikeTheDaemon(_ spec: SandboxSpec, standby: SandboxSpawner.Standby? = nil, output: Int32,
                         record: @escaping @Sendable (SyscallRecord) -> Bool) throws -> () throws -> Void {
    var pair: [Int32] = [0, 0]
    socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
    defer { close(pair[0]); close(pair[1]) }
    let ready = try standby ?? SandboxSpawner.standBy(launcher: launcher, template: spec)
    let launched = try SandboxSpawner.launch(ready, spec: spec, stdoutFD: output, stderrFD: devNull, brokerFD: pair[1]) { listener in
        // Every supervised syscall recorded one by one, as within a sandbox's budget.
        var limits = AuditLimits()
        limits.syscallsPerSecond = 1e12
        limits.syscallBurst = Int.max / 2
        SyscallSupervisor.start(listener: listener, table: supervisionTable, limits: limits, record: { syscall, _ in record(syscall) }, finished: { _ in })
    }
    return {
        guard SandboxSpawner.reap(launched.pid) == 0 else { throw SpawnError.failed("the sandboxed program failed") }
        CgroupCleanup.remove(launcherPID: launched.pid, instance: spec.instance)
        [launched.launcherPidfd, launched.initPidfd].filter { $0 >= 0 }.forEach { close($0) }
    }
}
/// The daemon's record: a durable `syscall` event before the supervisor answers.
let auditedRecord: @Sendable (SyscallRecord) -> Bool = { record in
    let event = SyscallEvent(pid: record.pid, syscall: record.syscall, supervised: record.supervised, decision: record.decisionText,
                             resolution: nil, details: record.details)
    return (try? spawnAudit.appendNow(event, run: "bench", agent: "a", durability: .durable)) != nil
}
func spawnLikeTheDaemon(_ standby: SandboxSpawner.Standby?, output: Int32) throws -> () throws -> Void {
    try launchLikeTheDaemon(spec, standby: standby, output: output, record: auditedRecord)
}
let coldSpawn = try timeToFirstOutput(spawnIterations) { try spawnLikeTheDaemon(nil, output: $0) }
// Pre-started launchers: the standby's start is not timed (the daemon does it between runs).
var standbys: [SandboxSpawner.Standby] = []
for _ in 0..<(spawnIterations + 5) { standbys.append(try SandboxSpawner.standBy(launcher: launcher, template: spec)) }
let warmSpawn = try timeToFirstOutput(spawnIterations) { try spawnLikeTheDaemon(standbys.removeLast(), output: $0) }
let bwrapPath = "/usr/bin/bwrap"
let bwrapArgs = [bwrapPath, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
                 "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                 "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"] + program
/// Time to first output of a peer tool running `program` (`argv` ends with it); nil when the
/// tool is not installed.
func peerSpawn(_ argv: [String]) throws -> [Duration]? {
    guard FileManager.default.isExecutableFile(atPath: argv[0]) else { return nil }
    return try timeToFirstOutput(spawnIterations) { output in
        guard let pid = spawnProgram(argv, stdoutFD: output) else { throw SpawnError.failed("\(argv[0]) did not start") }
        return { guard waitStatus(pid) == 0 else { throw SpawnError.failed("\(argv[0]) failed") } }
    }
}
let bwrapSpawn = try peerSpawn(bwrapArgs)
// More peers: unshare(1) with the same namespaces less cgroup/uts (no root view, no filter),
// and firejail without a profile and without network (left out where it cannot run, e.g. in a
// container that forbids its setuid start).
let unshareSpawn = try peerSpawn(["/usr/bin/unshare", "-Urmnpif"] + program)
let firejailSpawn = (try? peerSpawn(["/usr/bin/firejail", "--quiet", "--noprofile", "--net=none"] + program)) ?? nil

let bwrapStats = bwrapSpawn.map(Stats.init) ?? Stats([])
func spawnFigure(_ name: String, _ samples: [Duration], target: String) -> Figure {
    let stats = Stats(samples)
    return Figure(figure: name, unit: "µs", warden: stats,
                  peer: bwrapSpawn == nil ? "bwrap (not installed)" : "bwrap --unshare-all --die-with-parent --new-session",
                  peerStats: bwrapStats, overheadMedian: stats.median - bwrapStats.median,
                  ratio: bwrapStats.median > 0 ? stats.median / bwrapStats.median : 0, target: target)
}
figures.append(spawnFigure("spawn→agent's first output, standby", warmSpawn, target: "≤ 1.0× bwrap (stretch ≤ 0.5×)"))
figures.append(spawnFigure("  the same, launcher on demand", coldSpawn, target: "≤ 1.0× bwrap"))
figures.append(spawnFigure("  warden-sandbox CLI alone", standaloneSpawn, target: "— (parses YAML, compiles BPF)"))
for (name, samples) in [("unshare -Urmnpif", unshareSpawn), ("firejail --noprofile --net=none", firejailSpawn)] {
    let peerStats = samples.map(Stats.init) ?? Stats([])
    let stats = Stats(warmSpawn)
    figures.append(Figure(figure: "  standby spawn vs \(name.split(separator: " ")[0])", unit: "µs", warden: stats,
                          peer: samples == nil ? "\(name) (not available here)" : name, peerStats: peerStats,
                          overheadMedian: stats.median - peerStats.median, ratio: peerStats.median > 0 ? stats.median / peerStats.median : 0,
                          target: "— (peer does less: no root view, filter or limits)"))
}
figures += try syscallFigures(policy: sandboxPolicy, seccomp: compiled, count: iterations)
figures += try await brokerFigures(session: session, makeSession: benchSession, iterations: iterations)
figures += try await auditFigures(in: work)
figures += try trialFigures(checkout: checkout, bin: binDirectory)

// The load drill's figures (scripts/bench runs scripts/load just before this program).
if let path = ProcessInfo.processInfo.environment["BENCH_LOAD_SUMMARY"], let text = KernelFile.text(path), !text.isEmpty {
    let load = try JSONValue.parse(text)
    /// One of the drill's round-trip spreads (milliseconds) as the table's microseconds.
    func roundTrip(_ name: String) -> Stats {
        let spread = load[name]
        let micros = { (key: String) in (spread?[key]?.doubleValue ?? 0) * 1000 }
        return Stats(min: micros("min"), median: micros("p50"), p99: micros("p99"), count: Int(spread?["count"]?.intValue ?? 0))
    }
    let rss = (load["peak_rss_kib"]?.intValue ?? 0) / 1024
    let firstMinute = (load["first_minute_peak_rss_kib"]?.intValue ?? 0) / 1024
    // How busy the CPUs were: the round trip's tail is waiting for a core when the agents alone keep both busy.
    let idle = load["cpu_idle_percent"]?.doubleValue.map { String(format: "%.1f", $0) } ?? "?"
    let pressure = load["cpu_pressure_percent"]?.doubleValue.map { String(format: ", CPU pressure %.0f%%", $0) } ?? ""
    let runnable = load["mean_runnable"]?.doubleValue.map { String(format: "%.0f", $0) } ?? "?"
    figures.append(Figure(figure: "256 agents at once: tool round trip (peak \(load["peak_agents"]?.intValue ?? 0) agents seen, "
                              + "wardend RSS \(rss) MiB, \(firstMinute) MiB after 1 min, \(load["duration_seconds"]?.intValue ?? 0) s; "
                              + "CPU idle \(idle)%, \(runnable) runnable\(pressure))",
                          unit: "µs", warden: roundTrip("round_trip_ms"),
                          peer: "—", peerStats: Stats([]), overheadMedian: 0, ratio: 0, target: "all start, RSS ≤ 150 MB, p99 ≤ 5000 µs"))
    // The same calls apart: bash's round trip is mostly a new process's life in the sandbox on busy CPUs.
    figures.append(Figure(figure: "  of which: tools the broker answers (all but bash)", unit: "µs", warden: roundTrip("broker_tools_round_trip_ms"),
                          peer: "—", peerStats: Stats([]), overheadMedian: 0, ratio: 0, target: "p99 ≤ 5000 µs"))
    figures.append(Figure(figure: "  of which: bash (a shell command run in the sandbox)", unit: "µs", warden: roundTrip("bash_round_trip_ms"),
                          peer: "—", peerStats: Stats([]), overheadMedian: 0, ratio: 0, target: "p99 ≤ 5000 µs"))
}

printTable(figures)
print("(gateway: \(iterations) iterations each, peer: \(figures[0].peer); spawn: \(spawnIterations) each, peer: \(figures[2].peer))")

struct Report: Codable {
    var date: String
    var cores: Int
    var memoryBytes: UInt64
    var figures: [Figure]
}
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
let report = Report(date: AuditClock.now(), cores: ProcessInfo.processInfo.activeProcessorCount,
                    memoryBytes: ProcessInfo.processInfo.physicalMemory, figures: figures)
try encoder.encode(report).write(to: URL(fileURLWithPath: output))
print("written to \(output)")
