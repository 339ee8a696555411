import Fluent
import NIOCore
import SQLKit
import Vapor

/// Purges what nobody needs any more, and counts device codes that expired unused. Safe with
/// many instances: on PostgreSQL a round runs only in the instance that wins a
/// transaction-scoped advisory lock; the others skip it.
enum Housekeeping {
    /// Device codes stay this long past expiry, so that a late poll still gets `expired_token`.
    static let deviceCodeRetention: TimeInterval = 24 * 3600
    /// Expired or revoked tokens stay this long, so people still see them under their devices.
    static let tokenRetention: TimeInterval = 30 * 86_400
    /// Invitations (accepted, withdrawn or never used) stay this long past expiry, so that a late
    /// click still reads "expired" rather than "not found".
    static let invitationRetention: TimeInterval = 30 * 86_400
    static let lockKey: Int64 = 0x4465_7650_7572_6765  // "DevPurge"

    struct Purged: Equatable {
        /// Codes that reached their expiry pending or approved but never exchanged, each counted once.
        var expiredUnusedCodes = 0
        var deviceCodes = 0
        /// Tokens that ran out without being revoked.
        var expiredTokens = 0
        var revokedTokens = 0
        var sessions = 0
        var rateLimitEvents = 0
        /// Sign-ins sent to the identity provider that never came back.
        var oidcSignIns = 0
        /// Outbox messages sent, or given up, longer ago than `Outbox.retention`.
        var mailMessages = 0
        var invitations = 0
    }

    /// One round; `nil` when another instance holds the round's lock.
    static func purge(at now: Date = Date(), on db: any Database) async throws -> Purged? {
        try await db.transaction { tx in
            if tx.sql.dialect.name == "postgresql" {
                let row = try await tx.sql.raw("SELECT pg_try_advisory_xact_lock(\(bind: lockKey)) AS won").first()
                guard try row?.decode(column: "won", as: Bool.self) == true else { return nil }
            }
            var purged = Purged()
            purged.expiredUnusedCodes = try await tx.sql.update(DeviceAuthorization.schema)
                .set("expiry_counted", to: true)
                .where("expiry_counted", .equal, false)
                .where("expires_at", .lessThanOrEqual, now)
                .where(
                    "status",
                    .in,
                    [DeviceAuthorization.Status.pending.rawValue, DeviceAuthorization.Status.approved.rawValue]
                )
                .returning("id").all().count
            purged.deviceCodes = try await delete(
                DeviceAuthorization.schema,
                where: "expires_at",
                before: now - deviceCodeRetention,
                on: tx
            )
            purged.expiredTokens = try await tx.sql.delete(from: APIToken.schema)
                .where("expires_at", .lessThan, now - tokenRetention).where("revoked_at", .is, SQLLiteral.null)
                .returning("id").all().count
            purged.revokedTokens = try await delete(
                APIToken.schema,
                where: "revoked_at",
                before: now - tokenRetention,
                on: tx
            )
            purged.revokedTokens += try await delete(
                APIToken.schema,
                where: "expires_at",
                before: now - tokenRetention,
                on: tx
            )
            purged.sessions = try await delete(WebSession.schema, where: "expires_at", before: now, on: tx)
            purged.rateLimitEvents = try await delete(
                RateLimitEvent.schema,
                where: "occurred_at",
                before: now - RateLimiter.longestWindow,
                on: tx
            )
            purged.oidcSignIns = try await delete(OIDCSignInAttempt.schema, where: "expires_at", before: now, on: tx)
            purged.invitations = try await delete(
                Invitation.schema,
                where: "expires_at",
                before: now - invitationRetention,
                on: tx
            )
            for column in ["sent_at", "failed_at"] {
                purged.mailMessages += try await delete(
                    OutboxMessage.schema,
                    where: column,
                    before: now - Outbox.retention,
                    on: tx
                )
            }
            return purged
        }
    }

    private static func delete(
        _ table: String,
        where column: String,
        before cutoff: Date,
        on db: any Database
    )
        async throws -> Int
    {
        try await db.sql.delete(from: table).where(column, .lessThan, cutoff).returning("id").all().count
    }

    /// A round as the server runs it: purged rows are logged, and those the metrics count are counted.
    static func round(_ application: Application, at now: Date = Date()) async {
        do {
            guard let purged = try await purge(at: now, on: application.db), purged != Purged() else { return }
            application.metrics.deviceFlow(.expiredUnused, count: purged.expiredUnusedCodes)
            application.metrics.tokensRevoked(purged.expiredTokens, reason: .expiryPurge)
            application.logger.info("housekeeping purged \(purged)")
        } catch {
            application.logger.warning("housekeeping failed: \(String(reflecting: error))")
        }
    }

    /// Runs a round every `interval` while the server runs (and once shortly after start).
    struct Schedule: LifecycleHandler {
        let interval: TimeAmount
        private let rounds = PeriodicRounds()

        init(interval: TimeAmount) {
            self.interval = interval
        }

        func didBootAsync(_ application: Application) async throws {
            rounds.start(on: application.eventLoopGroup.next(), after: .seconds(30), every: interval) {
                await round(application)
            }
        }

        /// Waits for a round in progress, which still needs the database.
        func shutdownAsync(_ application: Application) async {
            await rounds.stop(on: application.eventLoopGroup.any())
        }
    }
}
