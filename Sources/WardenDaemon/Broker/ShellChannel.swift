import Dispatch
import Foundation
import Glibc
import Synchronization
import WardenBroker
import WardenSandbox

/// The daemon's end of one sandbox's command channel (fd 6 inside): sends a `ShellRequest`,
/// waits for the `ShellReply`. Commands of one agent run one at a time; the blocking exchange
/// happens on a Dispatch thread, never on the cooperative pool.
final class ShellChannel: SandboxShell {
    let fd: Mutex<Int32>
    let queue = DispatchQueue(label: "warden.shell")

    init(fd: Int32) { self.fd = Mutex(fd) }

    deinit { close() }

    func close() { fd.withLock { if $0 >= 0 { Glibc.close($0); $0 = -1 } } }

    func run(command: String, timeoutSeconds: Double, maxOutputBytes: Int) async throws(ToolFailure) -> String {
        let request = ShellRequest(command: command, timeoutSeconds: timeoutSeconds, maxOutputBytes: maxOutputBytes)
        let result: Result<ShellReply, ToolFailure> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.exchange(request)) }
        }
        let reply = try result.get()
        if let error = reply.error { throw ToolFailure(.shell, "the shell could not run the command: \(error)") }
        var text = reply.outputText
        if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
        if reply.truncated { text += "[output truncated: \(maxOutputBytes) of \(reply.outputBytes) bytes shown]\n" }
        if reply.timedOut {
            text += "[timed out after \(Self.seconds(timeoutSeconds)) s and killed; output so far is above]"
        } else if let signal = reply.signal {
            text += "[killed by signal \(signal)]"
        } else {
            text += "[exit status \(reply.exitCode ?? -1)]"
        }
        return text
    }

    private func exchange(_ request: ShellRequest) -> Result<ShellReply, ToolFailure> {
        guard let data = try? JSONEncoder().encode(request) else { return .failure(ToolFailure(.shell, "cannot encode the command")) }
        return fd.withLock { fd -> Result<ShellReply, ToolFailure> in
            guard fd >= 0 else { return .failure(ToolFailure(.shell, "the sandbox has ended")) }
            let sent = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent == data.count else { return .failure(ToolFailure(.shell, "the sandbox's shell is gone")) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0, let reply = try? JSONDecoder().decode(ShellReply.self, from: Data(buffer[0..<n])) else {
                    return .failure(ToolFailure(.shell, "the sandbox's shell is gone"))
                }
                return .success(reply)
            }
        }
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
