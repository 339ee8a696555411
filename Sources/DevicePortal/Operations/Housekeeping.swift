import Fluent
import NIOCore
import SQLKit
import Vapor

/// Purges what nobody needs any more. Safe with many instances: on PostgreSQL a round runs
/// only in the instance that wins a transaction-scoped advisory lock; the others skip it.
enum Housekeeping {
    /// Device codes stay this long past expiry, so that a late poll still gets `expired_token`.
    static let deviceCodeRetention: TimeInterval = 24 * 3600
    /// Expired or revoked tokens stay this long, so people still see them under their devices.
    static let tokenRetention: TimeInterval = 30 * 86_400
    static let lockKey: Int64 = 0x4465_7650_7572_6765  // "DevPurge"

    struct Purged: Equatable {
        var deviceCodes = 0
        var tokens = 0
        var sessions = 0
        var rateLimitEvents = 0
    }

    /// One round; `nil` when another instance holds the round's lock.
    static func purge(at now: Date = Date(), on db: any Database) async throws -> Purged? {
        try await db.transaction { tx in
            if tx.sql.dialect.name == "postgresql" {
                let row = try await tx.sql.raw("SELECT pg_try_advisory_xact_lock(\(bind: lockKey)) AS won").first()
                guard try row?.decode(column: "won", as: Bool.self) == true else { return nil }
            }
            var purged = Purged()
            purged.deviceCodes = try await delete(
                DeviceAuthorization.schema, where: "expires_at", before: now - deviceCodeRetention, on: tx)
            purged.tokens = try await delete(APIToken.schema, where: "expires_at", before: now - tokenRetention, on: tx)
            purged.tokens += try await delete(
                APIToken.schema, where: "revoked_at", before: now - tokenRetention, on: tx)
            purged.sessions = try await delete(WebSession.schema, where: "expires_at", before: now, on: tx)
            purged.rateLimitEvents = try await delete(
                RateLimitEvent.schema, where: "occurred_at", before: now - RateLimiter.longestWindow, on: tx)
            return purged
        }
    }

    private static func delete(_ table: String, where column: String, before cutoff: Date, on db: any Database)
        async throws -> Int
    {
        try await db.sql.delete(from: table).where(column, .lessThan, cutoff).returning("id").all().count
    }

    /// Runs a round every `interval` while the server runs (and once shortly after start).
    struct Schedule: LifecycleHandler {
        let interval: TimeAmount

        func didBootAsync(_ application: Application) async throws {
            let eventLoop = application.eventLoopGroup.next()
            let task = eventLoop.scheduleRepeatedAsyncTask(initialDelay: .seconds(30), delay: interval) { _ in
                eventLoop.makeFutureWithTask {
                    do {
                        if let purged = try await purge(on: application.db), purged != Purged() {
                            application.logger.info("housekeeping purged \(purged)")
                        }
                    } catch {
                        application.logger.warning("housekeeping failed: \(String(reflecting: error))")
                    }
                }
            }
            application.storage[TaskKey.self] = task
        }

        func shutdownAsync(_ application: Application) async {
            application.storage[TaskKey.self]?.cancel()
        }

        private struct TaskKey: StorageKey {
            typealias Value = RepeatedTask
        }
    }
}
