import Foundation
import Glibc
import WardenSandbox

/// One sandboxed agent process. A dedicated thread spawns the launcher and then waits for
/// it: the launcher's parent-death signal follows the spawning thread, so that thread must
/// live exactly as long as the sandbox.
struct AgentProcess: Sendable {
    let pid: pid_t
    let report: SandboxReport
    /// Yields the launcher's exit code once.
    let exit: AsyncStream<Int32>

    static func launch(launcher: String, spec: SandboxSpec, brokerFD: Int32, stdoutFD: Int32, stderrFD: Int32)
        async throws(SandboxError) -> AgentProcess
    {
        let (exitStream, exitContinuation) = AsyncStream<Int32>.makeStream()
        let result: Result<SandboxSpawner.Launched, SandboxError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(SandboxError) {
                    let launched = try SandboxSpawner.spawn(launcher: launcher, spec: spec, brokerFD: brokerFD,
                                                            stdoutFD: stdoutFD, stderrFD: stderrFD)
                    continuation.resume(returning: .success(launched))
                    let code = SandboxSpawner.reap(launched.pid)
                    // A launcher that was killed could not remove its cgroups.
                    CgroupCleanup.remove(launcherPID: launched.pid)
                    exitContinuation.yield(code)
                } catch {
                    continuation.resume(returning: .failure(error))
                }
                exitContinuation.finish()
            }
            thread.stackSize = 512 << 10
            thread.start()
        }
        switch result {
        case .success(let launched): return AgentProcess(pid: launched.pid, report: launched.report, exit: exitStream)
        case .failure(let error): throw error
        }
    }

    /// Kills the whole sandbox: the launcher's death takes its namespace with it.
    func kill() { _ = Glibc.kill(pid, SIGKILL) }

    func waitForExit() async -> Int32 {
        for await code in exit { return code }
        return -1
    }
}
