import Dispatch
import Foundation
import Synchronization
import WardenSandbox
import WardenSandboxHost

/// The daemon's one way to a sandbox (`launch`), and the launchers it keeps started ahead of
/// need, so that starting an agent does not wait for `exec` and the launcher's runtime to load. Each standby lives on its own thread, which starts it and goes
/// on to run and reap the sandbox it becomes. Standbys are forked from one warm launcher (the
/// zygote), which saves the exec and the runtime's start-up per sandbox; without it (it could
/// not start, or died) each is spawned as before. The zygote's thread lives as long as the
/// daemon: the launchers' parent-death signal follows it.
final class LauncherSupply: Sendable {
    /// Work for a standby's thread: given the standby (nil when none was ready), build the sandbox.
    typealias Job = @Sendable (SandboxSpawner.Standby?) -> Void

    private final class Slot: Sendable {
        let wake = DispatchSemaphore(value: 0)
        let job = Mutex<Job?>(nil)
    }

    let launcher: String
    /// Where launchers write what they say before they have a run (`STATE/launchers.log`).
    let log: String?
    let capacity: Int
    /// What standbys prepare from: the default sandbox policy's part of a spec. A run whose
    /// policy differs (the file changed since) gets a launcher started for it instead.
    let template: SandboxSpec?
    private let encodedTemplate: Data?
    private let state = Mutex<(ready: [Slot], starting: Int, stopped: Bool)>(([], 0, false))
    /// Idle standbys (starting or waiting): `stop` waits for them to be stood down, so none
    /// outlives a daemon that stops cleanly, and their cgroups go with them.
    private let idle = DispatchGroup()
    /// Nil when standbys are spawned one by one (no template, or the zygote did not start).
    let zygote: LauncherZygote?

    /// The daemon's instance (`SandboxSpec.instance`): its launchers carry it.
    let instance: String

    init(launcher: String, capacity: Int, template: SandboxSpec?, instance: String, log: String? = nil) {
        self.instance = instance
        self.launcher = launcher
        self.log = log
        self.capacity = template == nil ? 0 : capacity
        self.template = template
        encodedTemplate = template.flatMap { try? JSONEncoder().encode($0) }
        zygote = template == nil ? nil : Self.startZygote(launcher: launcher, instance: instance, log: log)
    }

    /// Starts the zygote on a thread of its own that never ends (see the type's comment);
    /// waits only for the spawn.
    private static func startZygote(launcher: String, instance: String, log: String?) -> LauncherZygote? {
        let started = Mutex<LauncherZygote?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let parked = DispatchSemaphore(value: 0)
        thread {
            started.withLock { $0 = try? LauncherZygote.start(launcher: launcher, instance: instance, log: log) }
            ready.signal()
            parked.wait()
        }
        ready.wait()
        return started.withLock { $0 }
    }

    /// Starts a sandbox for `spec` with the agent's descriptors: on a waiting launcher when one
    /// is ready (forked by the zygote), else on one spawned now; the thread that started the
    /// launcher then reaps it, and the agent's exit is yielded when pid 1's namespace is gone.
    func launch(spec: SandboxSpec, brokerFD: Int32, shellFD: Int32?, stdoutFD: Int32, stderrFD: Int32,
                       supervise: @escaping @Sendable (Int32) -> Void) async throws(SandboxError) -> AgentProcess {
        let (exitStream, exitContinuation) = AsyncStream<AgentProcess.Exit>.makeStream()
        let result: Result<(SandboxSpawner.Launched, SandboxPidfds), SandboxError> = await withCheckedContinuation { continuation in
            run { [self] standby in
                do throws(SandboxError) {
                    let launched: SandboxSpawner.Launched
                    do throws(SandboxError) {
                        let ready: SandboxSpawner.Standby
                        if let standby { ready = standby } else { ready = try SandboxSpawner.standBy(launcher: launcher, template: spec, log: log, zygote: zygote) }
                        launched = try SandboxSpawner.launch(ready, spec: spec,
                                                             stdoutFD: stdoutFD, stderrFD: stderrFD, brokerFD: brokerFD,
                                                             shellFD: shellFD, supervise: supervise)
                    } catch {
                        // A standby that died waiting, or was prepared for another policy, could
                        // not take the spec: start a launcher for it now.
                        guard error.code == .spawn, standby != nil else { throw error }
                        launched = try SandboxSpawner.spawn(launcher: launcher, spec: spec, brokerFD: brokerFD, shellFD: shellFD,
                                                            stdoutFD: stdoutFD, stderrFD: stderrFD, supervise: supervise)
                    }
                    let pidfds = SandboxPidfds(launcher: launched.launcherPidfd, initProcess: launched.initPidfd)
                    continuation.resume(returning: .success((launched, pidfds)))
                    let code = SandboxSpawner.reap(launched.pid)
                    // The launcher exits once pid 1 is reaped — or at once if it was killed, in
                    // which case pid 1 follows by its parent-death signal. Either way pid 1's
                    // pidfd says when the whole namespace is gone.
                    let confirmed = pidfds.confirmExit(timeout: 10)
                    // The launcher leaves its cgroups to us, to read what their limits did.
                    let events = CgroupCleanup.remove(launcherPID: launched.pid, instance: spec.instance)
                    exitContinuation.yield(AgentProcess.Exit(code: code, confirmed: confirmed, cgroupEvents: events))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
                exitContinuation.finish()
            }
        }
        switch result {
        case .success(let (launched, pidfds)):
            return AgentProcess(pid: launched.pid, report: launched.report, pidfds: pidfds, exit: exitStream)
        case .failure(let error): throw error
        }
    }


    /// Runs `job` on a standby's thread, or on a new thread when none is ready; then tops the
    /// pool up again.
    private func run(_ job: @escaping Job) {
        let slot = state.withLock { $0.ready.isEmpty ? nil : $0.ready.removeFirst() }
        if let slot {
            slot.job.withLock { $0 = job }
            slot.wake.signal()
        } else {
            Self.thread { job(nil) }
        }
        replenish()
    }

    /// Starts standbys until `capacity` are ready or starting.
    func replenish() {
        let wanted = state.withLock { state -> Int in
            guard !state.stopped else { return 0 }
            let wanted = max(0, capacity - state.ready.count - state.starting)
            state.starting += wanted
            return wanted
        }
        for _ in 0..<wanted {
            guard let encodedTemplate else { return }
            idle.enter()
            Self.thread { [self] in
                let standby = try? SandboxSpawner.standBy(launcher: launcher, encodedTemplate: encodedTemplate, instance: instance, log: log,
                                                          zygote: zygote)
                let slot = Slot()
                let accepted = state.withLock { state -> Bool in
                    state.starting -= 1
                    guard standby != nil, !state.stopped else { return false }
                    state.ready.append(slot)
                    return true
                }
                guard let standby, accepted else {
                    standby?.standDown()
                    idle.leave()
                    return
                }
                slot.wake.wait()
                guard let job = slot.job.withLock({ $0 }) else {
                    standby.standDown()
                    idle.leave()
                    return
                }
                idle.leave()
                job(standby)
            }
        }
    }

    /// Stands every waiting launcher down and waits (up to 5 s) until they are gone; no more
    /// are started.
    func stop() {
        let slots = state.withLock { state -> [Slot] in
            state.stopped = true
            defer { state.ready.removeAll() }
            return state.ready
        }
        for slot in slots { slot.wake.signal() }
        _ = idle.wait(timeout: .now() + 5)
        zygote?.stop()
    }

    private static func thread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 512 << 10
        thread.start()
    }
}
