import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import WardenCore

/// A small HTTP server on 127.0.0.1 that answers each request with the next canned reply and
/// records what it was sent: a stand-in model server with recorded-shape replies.
final class CannedHTTPServer: Sendable {
    struct Reply: Sendable {
        var status: Int = 200
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        var body: String
        /// Wait this long before answering (to provoke client timeouts).
        var delay: Duration = .zero
    }

    struct Request: Sendable {
        var path: String
        var headers: [String: String]
        var body: JSONValue?
    }

    private let replies: Mutex<[Reply]>
    private let received = Mutex<[Request]>([])
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let channel: Mutex<(any Channel)?> = Mutex(nil)

    init(_ replies: [Reply]) { self.replies = Mutex(replies) }

    var requests: [Request] { received.withLock { $0 } }

    /// Starts listening; returns the base URL.
    func start() async throws -> String {
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

    func stop() async {
        let current = channel.withLock { $0 }
        try? await current?.close()
        try? await group.shutdownGracefully()
    }

    fileprivate func next(for request: Request) -> Reply {
        received.withLock { $0.append(request) }
        return replies.withLock { list in list.count > 1 ? list.removeFirst() : list.first ?? Reply(status: 500, body: "no reply") }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: CannedHTTPServer
        var head: HTTPRequestHead?
        var body = ByteBuffer()

        init(server: CannedHTTPServer) { self.server = server }

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
                let request = Request(path: head.uri, headers: headers, body: try? JSONValue.parse(Array(body.readableBytesView)))
                let reply = server.next(for: request)
                var responseHeaders = HTTPHeaders(reply.headers)
                responseHeaders.add(name: "Content-Length", value: String(reply.body.utf8.count))
                responseHeaders.add(name: "Connection", value: "close")
                let response = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: responseHeaders)
                let loopBound = NIOLoopBound((context, self), eventLoop: context.eventLoop)
                let send = {
                    let (context, handler) = loopBound.value
                    context.write(handler.wrapOutboundOut(.head(response)), promise: nil)
                    context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.0.close(promise: nil) }
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
