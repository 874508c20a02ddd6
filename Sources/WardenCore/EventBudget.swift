/// How many events of one source are recorded one by one: a bucket of `burst` tokens refilled
/// at `perSecond`; an event that finds it empty is counted for a summary instead. A source that
/// keeps within the rate is recorded in full; a flood costs the log one summary per interval.
public struct EventBudget: Sendable {
    public let perSecond: Double
    public let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    public init(perSecond: Double, burst: Int) {
        self.perSecond = max(0, perSecond)
        self.burst = Double(max(1, burst))
        tokens = self.burst
    }

    /// Whether one more event may be recorded on its own now (taking a token if so).
    public mutating func admit(at now: ContinuousClock.Instant = .now) -> Bool {
        if let last {
            let elapsed = now - last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + seconds * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// The limits on events a flood could multiply, from wardend's config file (`audit_limits`).
/// Nothing that authorises an action is ever summarised: tool calls, operator requests and
/// every program a sandbox executes are always recorded one by one.
public struct AuditLimits: Sendable, Equatable {
    /// Refused control connections recorded one by one per caller uid and minute; the rest of
    /// the minute's are one `control.refused.summary`.
    public var refusedPerMinute: Int = 30
    /// Supervised syscalls recorded one by one per sandbox: this many a second, after a first
    /// burst; the rest are counted in `syscall.summary` events (at most one a second).
    public var syscallsPerSecond: Double = 200
    public var syscallBurst: Int = 2000

    public init() {}
}
