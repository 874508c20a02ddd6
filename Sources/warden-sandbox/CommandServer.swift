import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// Runs the broker's `bash` tool commands inside the sandbox it lives in: forked by pid 1 after
/// every layer is in place, so each command has the agent's own namespaces, Landlock rules,
/// seccomp filter (its exec and file changes reach the daemon's supervisor), uid and limits.
///
/// One request per SOCK_SEQPACKET message on fd 6 (`ShellRequest`), one `ShellReply` back.
/// Commands run one at a time, each as its own session so that a time-out kills everything it
/// started. Output (stdout and stderr together) is kept up to the cap; the rest is counted.
/// Framed messages on the same socket (`SandboxOps`) are Inspect's operations (`OpServer`).
struct CommandServer {
    let socket: Int32
    let environment: [String: String]

    func run() -> Never {
        // Same uid as the agent: refuse it ptrace-style access to this process's memory and fds.
        _ = warden_set_dumpable(0)
        signal(SIGPIPE, SIG_IGN)
        var buffer = messageBuffer(1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { exit(0) }
            if SandboxOps.isFramed(first: buffer[0]) {
                if !OpServer(socket: socket, environment: environment).serve(first: Array(buffer[0..<n])) { exit(0) }
                continue
            }
            let reply: ShellReply
            if let request = try? JSONDecoder().decode(ShellRequest.self, from: Data(buffer[0..<n])) {
                reply = execute(request)
            } else {
                reply = ShellReply(error: "malformed request")
            }
            guard let data = try? JSONEncoder().encode(reply) else { exit(1) }
            let sent = data.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 { exit(0) }
        }
    }

    private func execute(_ request: ShellRequest) -> ShellReply {
        var output: [Int32] = [0, 0]
        guard warden_pipe2_cloexec(&output) == 0 else { return ShellReply(error: "pipe: \(String(cString: strerror(errno)))") }
        let workingDirectory = access("/srv/hosts", X_OK) == 0 ? "/srv/hosts" : "/tmp"
        let words: [String] = ["/bin/sh", "-c", request.command]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let child = fork()
        if child < 0 { return ShellReply(error: "fork: \(String(cString: strerror(errno)))") }
        if child == 0 {
            _ = setsid()
            let devNull = open("/dev/null", O_RDONLY)
            if devNull >= 0 { dup2(devNull, 0) }
            dup2(output[1], 1)
            dup2(output[1], 2)
            _ = warden_close_range(3, UInt32.max)
            signal(SIGPIPE, SIG_DFL)
            _ = chdir(workingDirectory)
            execve("/bin/sh", argv, envp)
            _exit(127)
        }
        argv.forEach { free($0) }
        envp.forEach { free($0) }
        close(output[1])
        defer { close(output[0]) }

        var kept: [UInt8] = []
        var total = 0
        var timedOut = false
        var status: Int32 = 0
        var exited = false
        var drained = false
        let deadline = Self.now() + max(0.1, request.timeoutSeconds)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let remaining = deadline - Self.now()
            if remaining <= 0 { timedOut = !exited; break }
            var poller = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
            // Short slices: a command that exits while something it started keeps the pipe open
            // is done all the same.
            let ready = poll(&poller, 1, Int32(min(remaining, 0.1) * 1000) + 1)
            if ready < 0 && errno != EINTR { break }
            if ready > 0 {
                let n = chunk.withUnsafeMutableBytes { read(output[0], $0.baseAddress, $0.count) }
                if n == 0 { drained = true; break }
                if n > 0 {
                    total += n
                    if kept.count < request.maxOutputBytes { kept.append(contentsOf: chunk[0..<min(n, request.maxOutputBytes - kept.count)]) }
                    continue
                }
            }
            if exited { break }  // nothing more arrived after the command exited
            if waitpid(child, &status, WNOHANG) == child { exited = true }
        }
        if !exited, drained, waitpid(child, &status, 0) == child { exited = true }
        // Whatever the command left running (its session) ends with it. (Each kill is a
        // supervised, audited syscall: skip it when the command ended cleanly.)
        if !(exited && drained) { kill(-child, SIGKILL) }
        if !exited {
            kill(child, SIGKILL)
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
        var reply = ShellReply()
        if status & 0x7f == 0 { reply.exitCode = (status >> 8) & 0xff } else { reply.signal = status & 0x7f }
        if timedOut { reply.signal = nil; reply.exitCode = nil }
        reply.output = Data(kept).base64EncodedString()
        reply.outputBytes = total
        reply.truncated = total > kept.count
        reply.timedOut = timedOut
        return reply
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
