import CWardenLinux
import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import WardenAudit
import WardenCore
import WardenProtocol
import WardenSandbox
import WardenSandboxHost
import WardenWorld

/// The daemon: opens the audit log, listens on the control socket, runs scenarios, and on
/// SIGTERM or SIGINT stops every sandbox and exits cleanly.
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration
    let logger: Logger

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        try prepareStateDirectory()
        // One spelling of the state directory whatever path named it (a symlink, `..`): the
        // instance name, the mounts found at start-up and the lock all derive from it.
        guard let resolved = realpath(configuration.stateDirectory, nil) else {
            throw DaemonError(.stateDirectory, "cannot resolve the state directory \(configuration.stateDirectory)", cause: SystemError(errno))
        }
        defer { free(resolved) }
        var canonical = configuration
        canonical.stateDirectory = String(cString: resolved)
        try await Daemon(configuration: canonical, logger: logger).serve()
    }

    private func serve() async throws {
        warden_configure_malloc()
        let notifier = SystemdNotifier()
        // What this process may do, said before anything is written: refused without what every
        // sandbox needs, warned once for each optional capability it lacks.
        let privileges = DaemonPrivileges.probe()
        if let refusal = privileges.refusal { throw DaemonError(.privileges, refusal) }
        for capability in privileges.missing where !capability.required && capability.name != "CAP_SYS_NICE" {
            logger.warning("wardend lacks \(capability.name): \(capability.without)")
        }
        // Before anything else in the state directory is read or written: one daemon per directory.
        let lock = try StateLock.acquire(configuration.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        let (signer, pendingKey) = try SigningKeys.load(in: configuration.stateDirectory)
        let audit = try AuditLog(path: configuration.stateDirectory + "/audit.db", signer: signer,
                                 checkpointEvery: configuration.checkpointEvery)
        try SigningKeys.settle(audit: audit, current: signer, pending: pendingKey, directory: configuration.stateDirectory, logger: logger)
        let started = DaemonStart(version: WardenVersion.string, pid: getpid(), socket: configuration.socketPath,
                                  stateDirectory: configuration.stateDirectory, policies: configuration.policiesDirectory,
                                  auditWriterNice: audit.writerNice)
        try await audit.append(started, run: "", durability: .durable)
        if audit.writerNice == 0 {
            logger.notice("the audit writer runs at normal priority (no CAP_SYS_NICE): under CPU contention every broker call waits longer for its commit")
        }
        notifier.notify("STATUS=recovering")
        try await recover(audit: audit)

        // Before any launcher stands by: worlds mounted later must reach their namespaces.
        let live = configuration.stateDirectory + "/live"
        var liveMounted = false
        do {
            try WorldFilesystem.mountLive(live)
            liveMounted = true
        } catch {
            logger.warning("worlds will have no size limit", metadata: ["problem": "\(error.message)"])
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let runs = RunRegistry(configuration: configuration, audit: audit, logger: logger, worldsOnTmpfs: liveMounted) { status in
            notifier.notify("STATUS=\(status)")
        }
        let refusals = RefusalLedger(perMinute: configuration.auditLimits.refusedPerMinute)
        let control = ControlServer(runs: runs, suites: SuiteScheduler(runs: runs, audit: audit, logger: logger), audit: audit, keys: SigningKeys(directory: configuration.stateDirectory, audit: audit),
                                    refusals: refusals, logger: logger, startedAt: .now, access: ControlAccess(groupName: configuration.controlGroup),
                                    inspect: InspectSandboxes(runs: runs, audit: audit, logger: logger))
        let (server, activated) = try await listen(group: group, control: control)
        logger.info("wardend listening", metadata: ["socket": "\(configuration.socketPath)", "activated": "\(activated)",
                                                    "state": "\(configuration.stateDirectory)"])
        notifier.notify("READY=1\nSTATUS=listening on \(configuration.socketPath)")

        let watchdog = Task { await notifier.runWatchdog() }
        // A signed checkpoint every few seconds while events arrive, besides every N events.
        let checkpoints = Task { [logger, interval = configuration.checkpointSeconds] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(interval))
                for summary in refusals.due() { await audit.append(summary, run: "", durability: .durable, loggingFailuresTo: logger) }
                do { try audit.checkpointNow() } catch { logger.error("cannot write an audit checkpoint", metadata: ["error": "\(error)"]) }
            }
        }
        for await signal in Self.terminationSignals() {
            logger.info("stopping", metadata: ["signal": "\(signal)"])
            break
        }
        notifier.notify("STOPPING=1\nSTATUS=stopping: ending runs and sandboxes")
        try? await server.close()
        await control.inspect.closeAll()
        await runs.stopAll()
        // Give aborted runs a moment to record how they ended.
        for _ in 0..<50 where !(await runs.activeRuns.isEmpty) { try? await Task.sleep(for: .milliseconds(100)) }
        watchdog.cancel()
        checkpoints.cancel()
        for summary in refusals.drain() { await audit.append(summary, run: "", durability: .durable, loggingFailuresTo: logger) }
        await audit.append(DaemonStop(pid: getpid()), run: "", durability: .durable, loggingFailuresTo: logger)
        try? audit.checkpointNow()
        audit.checkpoint()
        if !activated { unlink(configuration.socketPath) }
        if liveMounted { WorldFilesystem.unmount(live) }
        try? await group.shutdownGracefully()
        logger.info("wardend stopped")
    }

    /// After a crash: runs that never ended are recorded as aborted, sandboxes that outlived the
    /// daemon are killed, and the chain is checked before any new event relies on it.
    private func recover(audit: AuditLog) async throws {
        let killed = LeftoverSandboxes.kill(launcher: configuration.launcherPath, instance: configuration.instance)
        let cgroups = CgroupCleanup.removeOrphans(instance: configuration.instance)
        let worlds = WorldFilesystem.leftovers(under: configuration.stateDirectory + "/live")
        // The worlds of runs a crash interrupted (live/RUN/world): kept on disk like any other
        // (runs/RUN/world), then unmounted.
        let policy = try? SandboxPolicy.loadDefault(sandboxPolicy: configuration.policiesDirectory + "/sandbox/default.yaml").0
        let rights = AgentRights.sandboxed(hostUID: policy?.hostUID ?? 65534, hostGID: policy?.hostGID ?? 65534)
        for path in worlds {
            let run = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
            let kept = RunPaths(stateDirectory: configuration.stateDirectory, runID: run).keptWorld
            do {
                let world = try World.left(at: try Descriptor.directory(at: path), rights: rights, sizeLimit: policy?.worldSizeBytes ?? 256 << 20)
                try Directories.make(kept, mode: 0o755)
                let result = await world.keep(into: try Descriptor.directory(at: kept))
                if !result.problems.isEmpty { logger.warning("world kept in part", metadata: ["world": "\(path)", "problems": "\(result.problems.prefix(5))"]) }
            } catch {
                logger.warning("world not kept", metadata: ["world": "\(path)", "problem": "\(error)"])
            }
            WorldFilesystem.unmount(path)
            _ = rmdir(path)
        }
        for run in try audit.unfinishedRuns() {
            try await audit.append(RunEnd(state: .aborted, reason: "wardend stopped before the run ended (found at the next start)"),
                                   run: run, durability: .durable)
            logger.warning("run aborted by an earlier stop", metadata: ["run": "\(run)"])
        }
        let verification = try audit.verify()
        let recovered = DaemonRecovered(killedSandboxes: killed, removedCgroups: cgroups, unmountedWorlds: worlds.count,
                                        chainOK: verification.ok, chainProblem: verification.problem)
        try await audit.append(recovered, run: "", durability: .durable)
        if !verification.ok {
            logger.error("the audit chain does not verify", metadata: ["problem": "\(verification.problem ?? "")"])
        }
    }

    private func prepareStateDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: configuration.stateDirectory + "/runs", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let socketDirectory = (configuration.socketPath as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw DaemonError(.stateDirectory, "cannot create \(configuration.stateDirectory) or the socket's directory: \(error.localizedDescription)")
        }
    }

    /// Listens on the control socket: the one systemd passed (socket activation), else one bound
    /// here. Each connection is served in its own task.
    private func listen(group: any EventLoopGroup, control: ControlServer) async throws -> (any Channel, activated: Bool) {
        let requestTimeout = TimeAmount.milliseconds(Int64(configuration.requestTimeoutSeconds * 1000))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RequestTimeout(timeout: requestTimeout))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maxLength: ControlServer.maxRequestBytes)))
                    let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    Task { await control.serve(connection) }
                }
            }
        if let fd = try SocketActivation.listeningSocket() {
            do {
                return (try await bootstrap.withBoundSocket(fd).get(), true)
            } catch {
                throw DaemonError(.socket, "cannot use the socket systemd passed (fd \(fd)): \(error)")
            }
        }
        let path = configuration.socketPath
        if FileManager.default.fileExists(atPath: path) {
            if (try? LineChannel.connect(unixPath: path)).map({ $0.close(); return true }) == true {
                throw DaemonError(.socket, "another wardend is already listening on \(path)")
            }
        }
        do {
            let channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            chmod(path, 0o660)
            return (channel, false)
        } catch {
            throw DaemonError(.socket, "cannot listen on \(path): \(error)")
        }
    }

    /// SIGTERM and SIGINT as an async sequence.
    static func terminationSignals() -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            // The handler holds its source on purpose: the source must live as long as the process.
            source.setEventHandler { [source] in
                _ = source
                continuation.yield(signalNumber)
            }
            source.resume()
        }
        return stream
    }
}

