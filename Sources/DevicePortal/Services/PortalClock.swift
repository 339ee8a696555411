import Vapor

/// The time as the portal reads it, a service on the application (in the way the other
/// services are kept there), so that a test moves time instead of editing rows: the device
/// flow's expiry and polling interval, tokens' and web sessions' lifetimes, the guard, rate limits.
protocol PortalClock: Sendable {
    var now: Date { get }
}

struct SystemClock: PortalClock {
    var now: Date { Date() }
}

extension Application {
    private struct ClockKey: StorageKey {
        typealias Value = any PortalClock
    }

    var clock: any PortalClock {
        get { storage[ClockKey.self] ?? SystemClock() }
        set { storage[ClockKey.self] = newValue }
    }
}

extension Request {
    /// The application clock's time.
    var now: Date { application.clock.now }
}
