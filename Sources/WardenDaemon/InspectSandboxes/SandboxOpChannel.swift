import Foundation
import Glibc
import WardenSandbox

/// Inspect's operations over a sandbox's command channel (`SandboxOps`), one at a time with the
/// `bash` tool's commands on the same channel. The blocking exchange runs on the channel's
/// Dispatch queue, never on the cooperative pool.
extension ShellChannel {
    struct OpFailure: Error, CustomStringConvertible {
        var description: String
        /// The sandbox is gone (its command server closed the channel), or the channel was closed.
        static let ended = OpFailure(description: "the sandbox has ended")
    }

    /// Closes the channel once the operation in progress (if any) is over, without waiting for it.
    func closeWhenIdle() { queue.async { self.close() } }

    /// Sends `request` (and `data`, when it carries some) and returns the reply with the data
    /// messages that follow it (`replyParts` of them: 2 for exec, 1 for a file read that worked).
    func perform(_ request: SandboxOpRequest, data: [UInt8]?, maxReplyBytes: Int) async throws(OpFailure) -> (SandboxOpReply, [[UInt8]]) {
        var request = request
        request.dataBytes = data?.count
        let header: [UInt8]
        do { header = Array(try JSONEncoder().encode(request)) } catch { throw OpFailure(description: "cannot encode the request: \(error)") }
        let op = request.op
        let result: Result<(SandboxOpReply, [[UInt8]]), OpFailure> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.exchange(op, header: header, data: data, maxReplyBytes: maxReplyBytes)) }
        }
        return try result.get()
    }

    private func exchange(_ op: SandboxOpRequest.Op, header: [UInt8], data: [UInt8]?, maxReplyBytes: Int)
        -> Result<(SandboxOpReply, [[UInt8]]), OpFailure>
    {
        fd.withLock { fd -> Result<(SandboxOpReply, [[UInt8]]), OpFailure> in
            let gone = OpFailure.ended
            guard fd >= 0, SandboxOps.send(fd, header) else { return .failure(gone) }
            if let data, !SandboxOps.send(fd, data) { return .failure(gone) }
            do throws(SandboxOps.FrameError) {
                let replyHeader = try SandboxOps.receive(fd, limit: SandboxOps.maxHeaderBytes)
                guard let reply = try? JSONDecoder().decode(SandboxOpReply.self, from: Data(replyHeader)) else {
                    return .failure(OpFailure(description: "the sandbox's command server sent a malformed reply"))
                }
                let parts = op == .exec ? 2 : (op == .readFile && reply.error == nil ? 1 : 0)
                var received: [[UInt8]] = []
                for _ in 0..<parts { received.append(try SandboxOps.receive(fd, limit: maxReplyBytes)) }
                return .success((reply, received))
            } catch {
                if error == .closed { return .failure(gone) }
                // Whatever is left of the reply would be read as the next one: the channel is done.
                Glibc.close(fd)
                fd = -1
                return .failure(OpFailure(description: "the sandbox's command server broke the protocol (\(error))"))
            }
        }
    }
}
