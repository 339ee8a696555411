/// The time the poller keeps: a monotonic "now" and a wait. Tests give the client a clock of
/// their own so that a 15-minute expiry or a series of `slow_down` answers runs in no time.
public protocol PollingClock: Sendable {
    /// Time since a fixed moment of this clock; it never goes backwards.
    func now() -> Duration
    /// Waits for `duration`; throws `CancellationError` at once if the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// Real time: `ContinuousClock`, which keeps counting while the machine sleeps, as a code's
/// lifetime on the server does.
public struct SystemPollingClock: PollingClock {
    private let origin = ContinuousClock.now

    public init() {}

    public func now() -> Duration {
        origin.duration(to: .now)
    }

    public func sleep(for duration: Duration) async throws {
        // Task.sleep traps on a wait whose nanoseconds overflow Int64 (about 292 years): wait a day at a time.
        let day = Duration.seconds(86_400)
        var left = duration
        while left > day {
            try await Task.sleep(for: day)
            left -= day
        }
        try await Task.sleep(for: left)
    }
}
