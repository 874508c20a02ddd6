import NIOCore
import NIOPosix
import WardenBroker
import WardenCore

/// Serves one agent's broker socket (the daemon's end of the socketpair) until the agent
/// closes it.
enum BrokerTransport {
    static func serve(fd: Int32, session: BrokerSession, maxLineLength: Int, group: any EventLoopGroup) async {
        do {
            let channel = try await ClientBootstrap(group: group).withConnectedSocket(fd) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLength: maxLineLength)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
            try await channel.executeThenClose { inbound, outbound in
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
            await session.rejectTransport("broker connection failed: \(error)", bytes: 0)
        }
    }
}
