import CWardenLinux
import Foundation
import Glibc
import WardenSandbox

/// Inspect's operations inside the sandbox (`SandboxOps`), served by the command server: it runs
/// as the agent's uid under every layer (namespaces, Landlock, seccomp and its supervisor), so a
/// file read or written here has exactly the sandbox's rights, and a command forked here is the
/// agent's own.
struct OpServer {
    let socket: Int32
    let environment: [String: String]

    /// Serves the request whose first chunk is `first`; false when the daemon is gone.
    func serve(first: [UInt8]) -> Bool {
        let header: [UInt8]
        do { header = try continueReceiving(first) } catch { return false }
        guard let request = try? JSONDecoder().decode(SandboxOpRequest.self, from: Data(header)) else {
            return reply(SandboxOpReply(error: "failed", message: "malformed request"), [])
        }
        var data: [UInt8]?
        if let size = request.dataBytes {
            guard size <= SandboxOps.maxDataBytes, let received = try? SandboxOps.receive(socket, limit: size), received.count == size else { return false }
            data = received
        }
        switch request.op {
        case .exec:
            let (answer, stdout, stderr) = exec(request, input: data)
            return reply(answer, [stdout, stderr])
        case .readFile:
            let (answer, contents) = readFile(request)
            return reply(answer, contents.map { [$0] } ?? [])
        case .writeFile:
            return reply(writeFile(request, contents: data ?? []), [])
        }
    }

    /// The rest of a framed message whose first chunk (flag byte included) is `first`.
    private func continueReceiving(_ first: [UInt8]) throws(SandboxOps.FrameError) -> [UInt8] {
        guard let flag = first.first else { throw .malformed }
        var message = Array(first.dropFirst())
        if flag == 1 { message += try SandboxOps.receive(socket, limit: SandboxOps.maxHeaderBytes) }
        return message
    }

    private func reply(_ answer: SandboxOpReply, _ data: [[UInt8]]) -> Bool {
        guard let header = try? JSONEncoder().encode(answer), SandboxOps.send(socket, Array(header)) else { return false }
        for part in data where !SandboxOps.send(socket, part) { return false }
        return true
    }

    // MARK: files

    private func readFile(_ request: SandboxOpRequest) -> (SandboxOpReply, [UInt8]?) {
        guard let path = request.path else { return (SandboxOpReply(error: "failed", message: "no path"), nil) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return (Self.failure(errno, path), nil) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return (Self.failure(errno, path), nil) }
        if info.st_mode & S_IFMT == S_IFDIR { return (Self.failure(EISDIR, path), nil) }
        // A FIFO or a device could keep the channel waiting for ever: regular files only.
        guard info.st_mode & S_IFMT == S_IFREG else { return (SandboxOpReply(error: "failed", message: "\(path) is not a regular file"), nil) }
        let limit = request.maxBytes ?? SandboxOps.maxDataBytes
        var answer = SandboxOpReply()
        if Int(info.st_size) > limit {
            answer = SandboxOpReply(error: "too_large", message: "\(path) is \(info.st_size) bytes, over the limit of \(limit)")
            answer.size = Int(info.st_size)
            return (answer, nil)
        }
        _ = fcntl(fd, F_SETFL, 0)
        var contents: [UInt8] = []
        contents.reserveCapacity(Int(info.st_size))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return (Self.failure(errno, path), nil) }
            if n == 0 { break }
            contents.append(contentsOf: buffer[0..<n])
            // A file that grew past the limit while it was read is refused like a large one.
            if contents.count > limit {
                answer = SandboxOpReply(error: "too_large", message: "\(path) grew over the limit of \(limit) bytes")
                answer.size = contents.count
                return (answer, nil)
            }
        }
        answer.size = contents.count
        return (answer, contents)
    }

    private func writeFile(_ request: SandboxOpRequest, contents: [UInt8]) -> SandboxOpReply {
        guard let path = request.path else { return SandboxOpReply(error: "failed", message: "no path") }
        // Missing parent directories are made, as Inspect's own sandboxes do.
        var parent = ""
        for component in path.split(separator: "/").dropLast() {
            parent += "/" + component
            if mkdir(parent, 0o777) != 0 && errno != EEXIST { return Self.failure(errno, parent) }
        }
        // Opened without blocking and checked before anything is written: a FIFO or a pipe put
        // at the path (through /proc/PID/fd) would otherwise hold this, the sandbox's only
        // channel, for as long as nobody reads it.
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o666)
        guard fd >= 0 else { return Self.failure(errno, path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return Self.failure(errno, path) }
        guard info.st_mode & S_IFMT == S_IFREG else { return SandboxOpReply(error: "failed", message: "\(path) is not a regular file") }
        guard fcntl(fd, F_SETFL, 0) == 0, ftruncate(fd, 0) == 0 else { return Self.failure(errno, path) }
        var offset = 0
        while offset < contents.count {
            let n = contents.withUnsafeBytes { write(fd, $0.baseAddress! + offset, contents.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return Self.failure(errno, path) }
            offset += n
        }
        return SandboxOpReply()
    }

    static func failure(_ code: Int32, _ path: String) -> SandboxOpReply {
        let name = SandboxOpReply.errorName(code)
        let text = code == EISDIR ? "\(path): is a directory" : "\(path): \(String(cString: strerror(code)))"
        return SandboxOpReply(error: name, message: text)
    }

    // MARK: exec

    private func exec(_ request: SandboxOpRequest, input: [UInt8]?) -> (SandboxOpReply, [UInt8], [UInt8]) {
        guard let argv = request.argv, let name = argv.first, !name.isEmpty else {
            return (SandboxOpReply(error: "failed", message: "exec needs a program"), [], [])
        }
        var env = environment
        for (key, value) in request.env ?? [:] { env[key] = value }
        let cwd = request.cwd ?? "/tmp"
        guard let program = Self.resolve(name, path: env["PATH"] ?? "/usr/bin:/bin") else {
            return (SandboxOpReply(error: "not_found", message: "\(name): command not found"), [], [])
        }
        var stdinPipe: [Int32] = [-1, -1], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], report: [Int32] = [0, 0]
        guard warden_pipe2_cloexec(&outPipe) == 0, warden_pipe2_cloexec(&errPipe) == 0, warden_pipe2_cloexec(&report) == 0,
              input == nil || warden_pipe2_cloexec(&stdinPipe) == 0 else {
            return (SandboxOpReply(error: "failed", message: "pipe: \(String(cString: strerror(errno)))"), [], [])
        }
        let args: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (args + envp).forEach { free($0) } }
        let child = fork()
        if child < 0 { return (SandboxOpReply(error: "failed", message: "fork: \(String(cString: strerror(errno)))"), [], []) }
        if child == 0 {
            _ = setsid()
            if stdinPipe[0] >= 0 { dup2(stdinPipe[0], 0) } else {
                let devNull = open("/dev/null", O_RDONLY)
                if devNull >= 0 { dup2(devNull, 0) }
            }
            dup2(outPipe[1], 1)
            dup2(errPipe[1], 2)
            if report[1] != 3 { dup2(report[1], 3) }
            _ = fcntl(3, F_SETFD, FD_CLOEXEC)
            _ = warden_close_range(4, UInt32.max)
            signal(SIGPIPE, SIG_DFL)
            // Each failure before the program runs is reported as (step, errno) on fd 3.
            var failed: [Int32] = [0, 0]
            if chdir(cwd) != 0 {
                failed = [1, errno]
            } else {
                execve(program, args, envp)
                failed = [2, errno]
            }
            _ = failed.withUnsafeBytes { write(3, $0.baseAddress, $0.count) }
            _exit(127)
        }
        for fd in [stdinPipe[0], outPipe[1], errPipe[1], report[1]] where fd >= 0 { close(fd) }
        var failure: [Int32] = [0, 0]
        let got = failure.withUnsafeMutableBytes { read(report[0], $0.baseAddress, $0.count) }
        close(report[0])
        if got == 8 {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            for fd in [stdinPipe[1], outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
            let step = failure[0] == 1 ? "cannot enter \(cwd)" : "cannot execute \(program)"
            return (SandboxOpReply(error: SandboxOpReply.errorName(failure[1]), message: "\(step): \(String(cString: strerror(failure[1])))"), [], [])
        }
        return collect(child: child, stdin: stdinPipe[1], input: input ?? [], stdout: outPipe[0], stderr: errPipe[0],
                       timeout: request.timeoutSeconds, keep: max(1, request.maxOutputBytes ?? (10 << 20)))
    }

    /// Feeds stdin and gathers both streams until the command exits (and its pipes are drained) or
    /// its time runs out; then its whole session is killed.
    private func collect(child: pid_t, stdin: Int32, input: [UInt8], stdout: Int32, stderr: Int32, timeout: Double?, keep: Int)
        -> (SandboxOpReply, [UInt8], [UInt8])
    {
        var streams = [Stream(fd: stdout, keep: keep), Stream(fd: stderr, keep: keep)]
        var inputFD = stdin
        var written = 0
        if inputFD >= 0 { _ = fcntl(inputFD, F_SETFL, O_NONBLOCK) }
        if inputFD >= 0 && input.isEmpty { close(inputFD); inputFD = -1 }
        let deadline = timeout.map { CommandServer.now() + max(0.01, $0) }
        var status: Int32 = 0
        var exited = false
        var exitedAt = 0.0
        var timedOut = false
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let now = CommandServer.now()
            if let deadline, now >= deadline, !exited { timedOut = true; break }
            if !exited, waitpid(child, &status, WNOHANG) == child { exited = true; exitedAt = now }
            let open = streams.filter { $0.fd >= 0 }
            // Something the command left running may hold a pipe open: once the command has exited,
            // output stops being waited for when a poll brings nothing (or after two seconds).
            if exited && (open.isEmpty || now - exitedAt > 2) { break }
            var polls = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            if inputFD >= 0 { polls.append(pollfd(fd: inputFD, events: Int16(POLLOUT), revents: 0)) }
            let wait = deadline.map { min(0.05, max(0, $0 - now)) } ?? 0.05
            let ready = poll(&polls, nfds_t(polls.count), Int32(wait * 1000) + 1)
            if ready < 0 && errno != EINTR { break }
            if ready == 0 && exited { break }
            for poller in polls where poller.revents != 0 {
                if poller.fd == inputFD {
                    let n = input.withUnsafeBytes { write(inputFD, $0.baseAddress! + written, min(1 << 16, input.count - written)) }
                    if n > 0 { written += n }
                    if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count { close(inputFD); inputFD = -1 }
                    continue
                }
                guard let index = streams.firstIndex(where: { $0.fd == poller.fd }) else { continue }
                let n = chunk.withUnsafeMutableBytes { read(poller.fd, $0.baseAddress, $0.count) }
                if n > 0 { streams[index].take(chunk[0..<n]) } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(streams[index].fd)
                    streams[index].fd = -1
                }
            }
        }
        if inputFD >= 0 { close(inputFD) }
        for stream in streams where stream.fd >= 0 { close(stream.fd) }
        if timedOut || !exited {
            kill(-child, SIGKILL)
            kill(child, SIGKILL)
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
        var answer = SandboxOpReply()
        answer.timedOut = timedOut
        if !timedOut { answer.exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
        answer.stdoutTotal = streams[0].total
        answer.stderrTotal = streams[1].total
        return (answer, streams[0].tail, streams[1].tail)
    }

    /// One output stream: its last `keep` bytes, and how many it produced.
    struct Stream {
        var fd: Int32
        let keep: Int
        var kept: [UInt8] = []
        var total = 0
        mutating func take(_ bytes: ArraySlice<UInt8>) {
            total += bytes.count
            kept.append(contentsOf: bytes)
            if kept.count > 2 * keep { kept.removeFirst(kept.count - keep) }
        }
        init(fd: Int32, keep: Int) { self.fd = fd; self.keep = keep }
        var tail: [UInt8] { Array(kept.suffix(keep)) }
    }

    /// The program's path: as given when it has a `/`, else the first executable on `path`.
    static func resolve(_ name: String, path: String) -> String? {
        if name.contains("/") { return name }
        for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        return nil
    }
}
