import Foundation
import NIOConcurrencyHelpers

@testable import DevicePortal

/// A clock a test moves: set as `app.clock`, it stands still until `advance(by:)`.
final class MovableClock: PortalClock {
    private let current: NIOLockedValueBox<Date>

    init(_ start: Date = Date()) {
        current = NIOLockedValueBox(start)
    }

    var now: Date { current.withLockedValue { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLockedValue { $0 = $0.addingTimeInterval(seconds) }
    }
}
