import Fluent
import Foundation
import SQLKit

/// Counts attempts in sliding windows, in the database, so every instance sees the same
/// counts and they survive a restart.
struct RateLimiter {
    struct Rule {
        let limit: Int
        let window: TimeInterval
    }

    /// A bucket (what is counted, e.g. one user's wrong codes) and the rules it is held to.
    struct Limit {
        let bucket: String
        let rules: [Rule]
    }

    let db: any Database

    /// No rule looks further back; older events are purged by `Housekeeping`.
    static let longestWindow: TimeInterval = 3_600

    /// Wrong user codes, per user and per IP: 5 a minute and 20 an hour (RFC 8628 §5.1).
    static let wrongUserCodeRules = [Rule(limit: 5, window: 60), Rule(limit: 20, window: 3_600)]
    /// Failed sign-ins per account: 5 a minute and 20 an hour.
    static let signInPerAccountRules = [Rule(limit: 5, window: 60), Rule(limit: 20, window: 3_600)]
    /// Device codes per IP: `perMinute` a minute and ten times that an hour, so nobody can fill
    /// the database with codes; an office behind one address signs in rarely (tokens last 90 days).
    static func deviceCodeRules(perMinute: Int) -> [Rule] {
        [Rule(limit: perMinute, window: 60), Rule(limit: perMinute * 10, window: 3_600)]
    }
    /// Failed sign-ins per IP, looser because many people can share one address.
    static let signInPerIPRules = [Rule(limit: 20, window: 60), Rule(limit: 100, window: 3_600)]

    /// Records an attempt in each bucket, then checks the windows including it, so that
    /// concurrent attempts see one another. Returns the seconds to wait when over a limit;
    /// a refused attempt is taken back and does not extend the wait.
    func reserve(at now: Date, _ limits: [Limit]) async throws -> Reservation {
        var ids: [UUID] = []
        for bucket in limits.map(\.bucket) {
            let event = RateLimitEvent(bucket: bucket, occurredAt: now)
            try await event.create(on: db)
            ids.append(try event.requireID())
        }
        let reservation = Reservation(db: db, eventIDs: ids)
        var retryAfter: TimeInterval = 0
        for limit in limits {
            let bucket = limit.bucket
            for rule in limit.rules {
                let since = now.addingTimeInterval(-rule.window)
                func recent() -> QueryBuilder<RateLimitEvent> {
                    RateLimitEvent.query(on: db).filter(\.$bucket == bucket).filter(\.$occurredAt > since)
                }
                guard try await recent().count() > rule.limit,
                    let oldest = try await recent().sort(\.$occurredAt).first()
                else { continue }
                retryAfter = max(retryAfter, oldest.occurredAt.addingTimeInterval(rule.window).timeIntervalSince(now))
            }
        }
        if retryAfter > 0 {
            try await reservation.release()
            return Reservation(db: db, eventIDs: [], retryAfter: Int(retryAfter.rounded(.up)))
        }
        return reservation
    }

    struct Reservation {
        let db: any Database
        let eventIDs: [UUID]
        /// Seconds until another attempt may be made; `nil` when this attempt may go ahead.
        var retryAfter: Int? = nil

        /// Takes the attempt back: it turned out not to count (for example, a correct code).
        func release() async throws {
            guard !eventIDs.isEmpty else { return }
            try await RateLimitEvent.query(on: db).filter(\.$id ~~ eventIDs).delete()
        }
    }
}

final class RateLimitEvent: Model, @unchecked Sendable {
    static let schema = "rate_limit_events"

    @ID(key: .id) var id: UUID?
    @Field(key: "bucket") var bucket: String
    @Field(key: "occurred_at") var occurredAt: Date

    init() {}

    init(bucket: String, occurredAt: Date) {
        self.bucket = bucket
        self.occurredAt = occurredAt
    }
}

struct CreateRateLimitEvents: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(RateLimitEvent.schema)
            .id()
            .field("bucket", .string, .required)
            .field("occurred_at", .datetime, .required)
            .create()
        try await database.createIndex(
            on: RateLimitEvent.schema,
            named: "rate_limit_events_bucket_time",
            columns: "bucket",
            "occurred_at"
        )
    }

    func revert(on database: any Database) async throws {
        try await database.schema(RateLimitEvent.schema).delete()
    }
}
