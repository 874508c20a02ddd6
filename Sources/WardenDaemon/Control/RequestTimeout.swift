import NIOCore

/// Closes a control connection whose request stops arriving part-way (a partial line left
/// unfinished for `timeout`): a slow or stalled client cannot hold a connection open with
/// half a request. Idle connections between requests, and clients waiting for a reply, are
/// left alone.
final class RequestTimeout: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    private var pending: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if buffer.readableBytesView.last == UInt8(ascii: "\n") {
            pending?.cancel()
            pending = nil
        } else if pending == nil, buffer.readableBytes > 0 {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            pending = context.eventLoop.scheduleTask(in: timeout) {
                loopBound.value.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
        context.fireChannelInactive()
    }
}
