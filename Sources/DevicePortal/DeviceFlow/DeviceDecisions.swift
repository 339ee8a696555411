import Fluent
import FluentPostgresDriver
import Vapor

/// Telling held polls that their code was decided. On PostgreSQL the deciding transaction sends a
/// `NOTIFY` (delivered to every instance's listener when, and only if, it commits); after the
/// commit this instance wakes its own held polls at once, on either database.
enum DeviceDecisions {
    static let channel = "portal_device_decided"

    /// Inside the deciding transaction.
    static func announce(_ deviceCodeHash: String, on tx: any Database) async throws {
        guard tx is any PostgresDatabase else { return }
        try await tx.sql.raw("SELECT pg_notify(\(bind: channel), \(bind: deviceCodeHash))").run()
    }

    /// After the deciding transaction committed.
    static func committed(_ deviceCodeHash: String, app: Application) {
        app.heldPolls.wake(deviceCodeHash)
    }
}

extension Application {
    private struct HeldPollsKey: StorageKey {
        typealias Value = HeldPolls
    }

    /// Made by `configure`, with `DEVICE_POLL_MAX_HELD` places.
    var heldPolls: HeldPolls {
        get { configured(HeldPollsKey.self) }
        set { storage[HeldPollsKey.self] = newValue }
    }
}
