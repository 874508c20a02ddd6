import NIOCore

/// Splits a byte stream into newline-terminated frames (without the newline). A frame longer
/// than `maxLength` is an error, which closes the connection: a peer cannot make the daemon
/// buffer without bound.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct LineTooLong: Error, CustomStringConvertible {
        var maxLength: Int
        var description: String { "a message exceeded \(maxLength) bytes without a newline" }
    }

    let maxLength: Int
    private var scanned = 0

    init(maxLength: Int) { self.maxLength = maxLength }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let index = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = index - view.startIndex
            guard let frame = buffer.readSlice(length: length) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 1)
            scanned = 0
            context.fireChannelRead(Self.wrapInboundOut(frame))
            return .continue
        }
        scanned = view.count
        if view.count > maxLength { throw LineTooLong(maxLength: maxLength) }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            // A final line without a newline still counts as a message.
            guard let frame = buffer.readSlice(length: buffer.readableBytes) else { return .needMoreData }
            scanned = 0
            context.fireChannelRead(Self.wrapInboundOut(frame))
        }
        return .needMoreData
    }
}

extension ByteBuffer {
    /// The JSON value as one newline-terminated line.
    init(line value: [UInt8]) {
        self.init(bytes: value + [UInt8(ascii: "\n")])
    }
}
