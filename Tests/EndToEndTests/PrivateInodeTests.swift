import Foundation
import Glibc
import Testing

/// Host files a sandbox sees read-only are read through its own overlay's inodes: a lock taken
/// on either side is not the other's, two sandboxes cannot signal each other through locks, and
/// inotify inside does not see the host's reads.
@Suite(.serialized) struct PrivateInodeTests {
    /// A directory and a file of the host bound into the sandbox with --bind-ro.
    static func hostFiles() throws -> (directory: String, file: String) {
        let directory = temporaryDirectory("warden-bound")
        try "shared?\n".write(toFile: directory + "/data.txt", atomically: false, encoding: .utf8)
        let single = temporaryDirectory("warden-bound-file") + "/alone.txt"
        try "alone\n".write(toFile: single, atomically: false, encoding: .utf8)
        chmod(directory, 0o755)
        chmod(directory + "/data.txt", 0o644)
        chmod((single as NSString).deletingLastPathComponent, 0o755)
        chmod(single, 0o644)
        return (directory, single)
    }

    func inSandbox(_ script: String, binds: [String]) throws -> CommandResult {
        try runCommand(Binaries.path("warden-sandbox"), binds.flatMap { ["--bind-ro", $0] } + ["--", "/bin/sh", "-c", script])
    }

    @Test(arguments: ["/etc/passwd", "bound directory", "bound file"])
    func aLockOnEitherSideIsNotTheOthers(_ which: String) throws {
        let (directory, single) = try Self.hostFiles()
        let binds = ["\(directory):/opt/bound", "\(single):/opt/alone.txt"]
        let (host, inside) = switch which {
        case "/etc/passwd": ("/etc/passwd", "/etc/passwd")
        case "bound directory": (directory + "/data.txt", "/opt/bound/data.txt")
        default: (single, "/opt/alone.txt")
        }
        // The host holds an exclusive lock; the sandbox takes its own at once.
        let fd = open(host, O_RDONLY)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let result = try inSandbox("flock -n \(inside) -c 'echo locked'; echo rc=$?", binds: binds)
        #expect(result.stdout.contains("locked\nrc=0"), "\(result.stdout) \(result.stderr)")
        flock(fd, LOCK_UN)
        // The sandbox holds one; the host takes its own meanwhile.
        let held = try startInBackground("flock -n \(inside) -c 'echo holding; sleep 3'", binds: binds)
        defer { held.waitUntilExit() }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0, "the host was blocked by the sandbox's lock on \(inside)")
        close(fd)
        // A second sandbox meanwhile takes it too: no channel between them.
        let second = try inSandbox("flock -n \(inside) -c 'echo second'; echo rc=$?", binds: binds)
        #expect(second.stdout.contains("second\nrc=0"), "\(second.stdout) \(second.stderr)")
    }

    func startInBackground(_ script: String, binds: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("warden-sandbox"))
        process.arguments = binds.flatMap { ["--bind-ro", $0] } + ["--", "/bin/sh", "-c", script]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// inotify inside sees nothing of the host reading the file it watches.
    @Test func inotifyInsideDoesNotSeeTheHostsReads() throws {
        let (directory, _) = try Self.hostFiles()
        let watcher = #"""
        import ctypes, os, select, sys
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK)
        assert libc.inotify_add_watch(fd, b"/opt/bound/data.txt", 0x1 | 0x20) >= 0  # IN_ACCESS | IN_OPEN
        print("watching", flush=True)
        ready, _, _ = select.select([fd], [], [], 3)
        print("events" if ready else "no events", flush=True)
        """#
        let script = temporaryDirectory("warden-watcher") + "/watch.py"
        try watcher.write(toFile: script, atomically: false, encoding: .utf8)
        let dir = (script as NSString).deletingLastPathComponent
        chmod(dir, 0o755)
        chmod(script, 0o644)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("warden-sandbox"))
        process.arguments = ["--bind-ro", "\(directory):/opt/bound", "--bind-ro", "\(dir):/opt/watch", "--", "/usr/bin/python3", "/opt/watch/watch.py"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        Thread.sleep(forTimeInterval: 1)
        for _ in 0..<20 { _ = try String(contentsOfFile: directory + "/data.txt", encoding: .utf8) }
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "watching\nno events\n", "\(text)")
    }

    /// Every read-only view got private inodes on this kernel: the spawn report names none shared.
    @Test func theReportNamesNoSharedInodes() throws {
        let (directory, single) = try Self.hostFiles()
        let result = try runCommand(Binaries.path("warden-sandbox"), ["--report", "--bind-ro", "\(directory):/opt/bound", "--bind-ro",
                                                                      "\(single):/opt/alone.txt", "--", "/bin/true"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("private_inodes"), "\(result.stderr)")
        #expect(result.stderr.contains(#""notApplied":["syscall_supervision"]"#), "\(result.stderr)")
    }
}
