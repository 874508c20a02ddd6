import Synchronization
import WardenCore

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
    func note(uid: UInt32, pid: Int32, now: ContinuousClock.Instant = .now) -> (record: Bool, summaries: [JSONValue]) {
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
    func due(now: ContinuousClock.Instant = .now) -> [JSONValue] {
        windows.withLock { Self.close(&$0, before: now) }
    }

    /// Every window's summary, ended or not (the daemon is stopping).
    func drain() -> [JSONValue] {
        windows.withLock { Self.close(&$0, before: .now + Self.window) }
    }

    /// Removes the windows that ended before `now`; a summary for each that counted refusals.
    private static func close(_ windows: inout [UInt32: Window], before now: ContinuousClock.Instant) -> [JSONValue] {
        var summaries: [JSONValue] = []
        for (uid, window) in windows where now - window.start >= Self.window {
            windows[uid] = nil
            guard window.counted > 0 else { continue }
            summaries.append(["uid": .int(Int64(uid)), "refused": .int(Int64(window.counted)), "recorded_one_by_one": .int(Int64(window.recorded)),
                              "window_seconds": .int(Self.window.components.seconds), "pids": .array(window.pids.sorted().map { .int(Int64($0)) })])
        }
        return summaries
    }
}
