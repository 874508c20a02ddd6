import CWardenLinux
import Foundation
import Glibc

/// Starts `warden-sandbox` from the (multithreaded) daemon with posix_spawn — never fork — and
/// hands it the broker socket as fd 3, the spec on fd 4 and a status pipe on fd 5.
public enum SandboxSpawner {
    public struct Launched: Sendable {
        public var pid: pid_t
        public var report: SandboxReport
    }

    /// Spawns the launcher and waits until the agent is executing (the status pipe closes).
    /// Throws with the launcher's own words when the sandbox could not be built.
    public static func spawn(launcher: String, spec: SandboxSpec, brokerFD: Int32, stdoutFD: Int32, stderrFD: Int32)
        throws(SandboxError) -> Launched
    {
        let specData: Data
        do { specData = try JSONEncoder().encode(spec) } catch { throw SandboxError(.spawn, "cannot encode the sandbox spec: \(error)") }
        guard let specFile = tmpfile() else { throw SandboxError(.spawn, "cannot create the spec file: \(String(cString: strerror(errno)))") }
        defer { fclose(specFile) }
        let specFD = fileno(specFile)
        let written = specData.withUnsafeBytes { write(specFD, $0.baseAddress, $0.count) }
        guard written == specData.count, lseek(specFD, 0, SEEK_SET) == 0 else {
            throw SandboxError(.spawn, "cannot write the spec file")
        }
        var status: [Int32] = [0, 0]
        guard warden_pipe2_cloexec(&status) == 0 else { throw SandboxError(.spawn, "pipe: \(String(cString: strerror(errno)))") }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }

        let arguments: [String] = [launcher, "--spec-fd", "4", "--status-fd", "5"]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { envp.forEach { free($0) } }
        let childFDs: [Int32] = [devNull, stdoutFD, stderrFD, brokerFD, specFD, status[1]]
        var pid: pid_t = 0
        let rc = childFDs.withUnsafeBufferPointer { fds in
            warden_spawn(&pid, launcher, argv, envp, fds.baseAddress, Int32(fds.count))
        }
        close(status[1])
        guard rc == 0 else {
            close(status[0])
            throw SandboxError(.spawn, "cannot start \(launcher): \(String(cString: strerror(rc)))")
        }
        let output = readToEnd(status[0])
        close(status[0])
        let lines = output.split(separator: UInt8(ascii: "\n"))
        for line in lines {
            if let failure = try? JSONDecoder().decode([String: String].self, from: Data(line)), let message = failure["error"] {
                reap(pid)
                throw SandboxError(.setup, "the sandbox could not start the agent: \(message)")
            }
        }
        guard let first = lines.first, let report = try? JSONDecoder().decode(SandboxReport.self, from: Data(first)) else {
            let code = reap(pid)
            throw SandboxError(.setup, "the launcher exited (status \(code)) before reporting; see the agent's stderr log")
        }
        return Launched(pid: pid, report: report)
    }

    /// Waits for a launcher and returns its exit code as a shell shows it.
    @discardableResult
    public static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    private static func readToEnd(_ fd: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > 1 << 20 { break }
        }
        return result
    }
}
