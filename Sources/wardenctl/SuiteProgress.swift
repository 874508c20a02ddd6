import Foundation
import Glibc
import WardenCore

/// A suite's progress on stderr, the way people expect it. On a terminal: one bar, rewritten in
/// place, with done/total, rate, ETA (h:mm:ss) and a running tally of verdicts and failures. Not
/// on a terminal (a log file, CI): one whole line per update, at most every `interval`.
final class SuiteProgress {
    let suite: String
    let terminal: Bool
    let interval: Duration
    private let started = ContinuousClock.now
    /// Trials already done when we began watching (a resumed suite's), left out of the rate.
    private var doneAtStart: Int?
    private var lastLine: ContinuousClock.Instant?
    private var drewBar = false

    init(suite: String, terminal: Bool = isatty(STDERR_FILENO) == 1, interval: Duration = .seconds(5)) {
        self.suite = suite
        self.terminal = terminal
        self.interval = interval
    }

    /// Shows a `suite.status` answer; `final` forces a line (the last one).
    func show(_ status: JSONValue, final: Bool = false) {
        let done = Int(status["done"]?.intValue ?? 0)
        let total = Int(status["total"]?.intValue ?? 0)
        let failed = Int(status["failed"]?.intValue ?? 0)
        if doneAtStart == nil { doneAtStart = done }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(done - (doneAtStart ?? 0)) / seconds : 0
        let eta = rate > 0 ? Self.clock(Double(total - done) / rate) : "-:--:--"
        let tally = Self.tally(status["verdicts"]) + (failed > 0 ? "  \(failed) failed" : "")
        if terminal {
            let width = 24
            let filled = total > 0 ? min(width, done * width / total) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\(bar) \(done)/\(total)  \(String(format: "%.2f", rate))/s  ETA \(eta)" + (tally.isEmpty ? "" : "  " + tally)
            write("\r\u{1B}[K" + line + (final ? "\n" : ""))
            drewBar = !final
        } else {
            let now = ContinuousClock.now
            guard final || lastLine.map({ now - $0 >= interval }) ?? true else { return }
            lastLine = now
            write("suite \(suite): \(done)/\(total) trials, \(String(format: "%.2f", rate))/s, ETA \(eta)" + (tally.isEmpty ? "" : "; " + tally) + "\n")
        }
    }

    /// Ends the bar's line, so what follows starts on a line of its own.
    func close() {
        if drewBar { write("\n") }
        drewBar = false
    }

    /// `complied 10 · refused 2`, most frequent first.
    static func tally(_ verdicts: JSONValue?) -> String {
        let counts = (verdicts?.objectValue ?? [:]).compactMapValues(\.intValue)
        return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }.joined(separator: " · ")
    }

    /// Seconds as h:mm:ss.
    static func clock(_ seconds: Double) -> String {
        let whole = Int(max(0, seconds.rounded()))
        return String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
