import Foundation
import Glibc
import Logging
import NIOCore
import NIOPosix
import WardenAudit
import WardenCore
import WardenProtocol

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
        let audit = try AuditLog(path: configuration.stateDirectory + "/audit.db")
        try await audit.append(run: "", kind: "daemon.start", payload: [
            "version": .string(WardenVersion.string), "pid": .int(Int64(getpid())), "socket": .string(configuration.socketPath),
            "state_directory": .string(configuration.stateDirectory), "policies": .string(configuration.policiesDirectory)])

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let runs = RunManager(configuration: configuration, audit: audit, group: group, logger: logger)
        let server = try await bind(group: group)
        chmod(configuration.socketPath, 0o660)
        let control = ControlServer(runs: runs, audit: audit, logger: logger, startedAt: .now)
        logger.info("wardend listening", metadata: ["socket": "\(configuration.socketPath)", "state": "\(configuration.stateDirectory)"])

        let signals = Self.terminationSignals()
        await withDiscardingTaskGroup { tasks in
            tasks.addTask {
                do {
                    try await server.executeThenClose { inbound in
                        try await withThrowingDiscardingTaskGroup { connections in
                            for try await connection in inbound {
                                connections.addTask { await control.serve(connection) }
                            }
                        }
                    }
                } catch {
                    logger.debug("control server stopped", metadata: ["error": "\(error)"])
                }
            }
            for await signal in signals {
                logger.info("stopping", metadata: ["signal": "\(signal)"])
                break
            }
            await runs.stopAll()
            try? await server.channel.close()
            tasks.cancelAll()
        }
        // Give aborted runs a moment to record how they ended.
        for _ in 0..<50 where !(await runs.activeRuns.isEmpty) { try? await Task.sleep(for: .milliseconds(100)) }
        await audit.record(run: "", kind: "daemon.stop", payload: ["pid": .int(Int64(getpid()))], logger: logger)
        unlink(configuration.socketPath)
        try? await group.shutdownGracefully()
        logger.info("wardend stopped")
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

    private func bind(group: any EventLoopGroup) async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        let path = configuration.socketPath
        if FileManager.default.fileExists(atPath: path) {
            if (try? LineChannel.connect(unixPath: path)).map({ $0.close(); return true }) == true {
                throw DaemonError(.socket, "another wardend is already listening on \(path)")
            }
        }
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 128)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maxLength: ControlServer.maxRequestBytes)))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
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

