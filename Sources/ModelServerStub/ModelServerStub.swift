import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WardenCore

/// A small HTTP server on 127.0.0.1 that answers each request with the next canned reply (the
/// last one repeats) and records what it was sent: a stand-in model server with recorded-shape
/// replies, for tests and for measuring the gateway's own overhead.
public final class ModelServerStub: Sendable {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String
        /// Wait this long before answering (to provoke client timeouts).
        public var delay: Duration

        public init(status: Int = 200, headers: [(String, String)] = [("Content-Type", "application/json")], body: String,
                    delay: Duration = .zero) {
            self.status = status
            self.headers = headers
            self.body = body
            self.delay = delay
        }
    }

    public struct Request: Sendable {
        public var path: String
        public var headers: [String: String]
        public var body: JSONValue?
    }

    private let replies: Mutex<[Reply]>
    private let received = Mutex<[Request]>([])
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Mutex<(any Channel)?> = Mutex(nil)

    public init(_ replies: [Reply]) { self.replies = Mutex(replies) }

    public var requests: [Request] { received.withLock { $0 } }

    /// Starts listening; returns the base URL.
    public func start() async throws -> String {
        let server = self
        let bound = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Handler(server: server))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = bound }
        return "http://127.0.0.1:\(bound.localAddress?.port ?? 0)"
    }

    public func stop() async {
        let current = channel.withLock { $0 }
        try? await current?.close()
        try? await group.shutdownGracefully()
    }

    /// Whether to keep each request (off for benchmarks, where the list would only grow).
    public let recording = Mutex(true)

    fileprivate func next(for request: Request) -> Reply {
        if recording.withLock({ $0 }) { received.withLock { $0.append(request) } }
        return replies.withLock { list in list.count > 1 ? list.removeFirst() : list.first ?? Reply(status: 500, body: "no reply") }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: ModelServerStub
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(server: ModelServerStub) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body.clear()
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                guard let head else { return }
                let headers = Dictionary(head.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
                let recording = server.recording.withLock { $0 }
                let request = Request(path: head.uri, headers: headers,
                                      body: recording ? try? JSONValue.parse(Array(body.readableBytesView)) : nil)
                let reply = server.next(for: request)
                var responseHeaders = HTTPHeaders(reply.headers)
                responseHeaders.add(name: "Content-Length", value: String(reply.body.utf8.count))
                let keepAlive = head.isKeepAlive
                if !keepAlive { responseHeaders.add(name: "Connection", value: "close") }
                let response = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: responseHeaders)
                let loopBound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
                let send: @Sendable () -> Void = {
                    let (context, handler) = loopBound.value
                    context.write(handler.wrapOutboundOut(.head(response)), promise: nil)
                    context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in
                        if !keepAlive { loopBound.value.0.close(promise: nil) }
                    }
                }
                if reply.delay == .zero {
                    send()
                } else {
                    context.eventLoop.scheduleTask(in: .milliseconds(Int64(reply.delay.components.seconds * 1000))) { send() }
                }
            }
        }
    }
}
