import NIOCore
import NIOPosix
import Synchronization
import WardenBroker
import WardenCore

/// Carries one agent's broker session over its connections: fd 3 (the daemon's end of a
/// socketpair) and, for programs that cannot inherit fd 3 (an MCP client spawning
/// `warden-mcp` closes every fd but stdio), a Unix socket bound into the sandbox.
public enum BrokerTransport {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// Serves the socketpair end until the agent closes it. (Public for scripts/bench, which
    /// measures a broker round trip through exactly this path.)
    public static func serve(fd: Int32, session: BrokerSession, maxLineLength: Int) async {
        do {
            let connection = try await ClientBootstrap(group: BrokerThreads.shared.group).withConnectedSocket(fd) { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel, maxLineLength: maxLineLength) }
            }
            await serve(connection, session: session)
        } catch {
            await session.connectionLost("\(error)")
        }
    }

    /// Connections one agent may hold open on its broker socket at once (fd 3 not counted);
    /// more are closed at once and audited as `broker.rejected`.
    static let maxSocketConnections = 16

    /// Listens on `path` for further connections to the same session; close the returned
    /// channel to stop.
    static func listen(path: String, session: BrokerSession, maxLineLength: Int) async throws
        -> NIOAsyncChannel<Connection, Never>
    {
        let server = try await ServerBootstrap(group: BrokerThreads.shared.group)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel, maxLineLength: maxLineLength) }
            }
        Task {
            try? await server.executeThenClose { inbound in
                let open = OpenConnections()
                await withDiscardingTaskGroup { connections in
                    do {
                        for try await connection in inbound {
                            // Bounded per agent, so a sandbox cannot spend the daemon's descriptors.
                            guard open.count.add(1, ordering: .relaxed).newValue <= maxSocketConnections else {
                                open.count.subtract(1, ordering: .relaxed)
                                connections.addTask {
                                    try? await connection.executeThenClose { _, _ in }
                                    await session.rejectTransport(
                                        "more than \(maxSocketConnections) connections to the broker socket at once; connection closed", bytes: 0)
                                }
                                continue
                            }
                            connections.addTask {
                                await serve(connection, session: session)
                                open.count.subtract(1, ordering: .relaxed)
                            }
                        }
                    } catch {
                        await session.connectionLost("broker socket: \(error)")
                    }
                }
            }
        }
        return server
    }

    private static func configure(_ channel: any Channel, maxLineLength: Int) throws -> Connection {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: maxLineLength)))
        return try Connection(wrappingChannelSynchronously: channel)
    }

    private static func serve(_ connection: Connection, session: BrokerSession) async {
        // The session's calls block on audit commits: on the broker's threads, not the pool's;
        // on the loop that carries the connection, so nothing changes threads within a call.
        await BrokerThreads.shared.run(on: connection.channel.eventLoop) { await serveOnBrokerThreads(connection, session: session) }
    }

    private static func serveOnBrokerThreads(_ connection: Connection, session: BrokerSession) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                await session.attach { value in
                    try? await outbound.write(ByteBuffer(line: value.canonicalBytes))
                }
                for try await frame in inbound {
                    if let reply = await session.handle(line: Array(frame.readableBytesView)) {
                        try await outbound.write(ByteBuffer(line: reply.canonicalBytes))
                    }
                }
            }
        } catch let error as LineFrameDecoder.LineTooLong {
            await session.rejectTransport("\(error); connection closed", bytes: error.maxLength)
        } catch {
            await session.connectionLost("\(error)")
        }
    }
}

/// Connections open on one agent's broker socket.
private final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}
