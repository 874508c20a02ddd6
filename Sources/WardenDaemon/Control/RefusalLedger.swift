import Synchronization
import WardenCore
import WardenVocabulary

/// Refused control connections, so a flood of them costs the log little: each caller uid's are
/// recorded one by one (`control.refused`) up to `AuditLimits.refusedPerMinute` in a minute, and
/// the rest of that minute's are counted into one `control.refused.summary` once the minute is
/// over (at the next refusal or the daemon's next periodic look, whichever comes first).
final class RefusalLedger: Sendable {
    struct Window {
        var start: ContinuousClock.Instant
        var recorded = 0
        var counted = 0
        var pids: Set<Int32> = []
    }

    private let windows = Mutex<[UInt32: Window]>([:])
    let perMinute: Int
    static let window: Duration = .seconds(60)

    init(perMinute: Int) { self.perMinute = max(1, perMinute) }

    /// Notes a refusal of `uid` (from `pid`): whether to record it one by one, and the summaries
    /// of windows that have ended meanwhile.
    func note(uid: UInt32, pid: Int32, now: ContinuousClock.Instant = .now) -> (record: Bool, summaries: [ControlRefusedSummary]) {
        windows.withLock { windows in
            let summaries = Self.close(&windows, before: now)
            var window = windows[uid] ?? Window(start: now)
            let record = window.recorded < perMinute
            if record { window.recorded += 1 } else {
                window.counted += 1
                if window.pids.count < 16 { window.pids.insert(pid) }
            }
            windows[uid] = window
            return (record, summaries)
        }
    }

    /// The summaries of windows that have ended.
    func due(now: ContinuousClock.Instant = .now) -> [ControlRefusedSummary] {
        windows.withLock { Self.close(&$0, before: now) }
    }

    /// Every window's summary, ended or not (the daemon is stopping).
    func drain() -> [ControlRefusedSummary] {
        windows.withLock { Self.close(&$0, before: .now + Self.window) }
    }

    /// Removes the windows that ended before `now`; a summary for each that counted refusals.
    private static func close(_ windows: inout [UInt32: Window], before now: ContinuousClock.Instant) -> [ControlRefusedSummary] {
        var summaries: [ControlRefusedSummary] = []
        for (uid, window) in windows where now - window.start >= Self.window {
            windows[uid] = nil
            guard window.counted > 0 else { continue }
            summaries.append(ControlRefusedSummary(uid: uid, refused: window.counted, recordedOneByOne: window.recorded,
                                                   windowSeconds: Int(Self.window.components.seconds), pids: window.pids.sorted()))
        }
        return summaries
    }
}
