import Fluent
import Foundation
import SQLKit

/// One poll of the token endpoint, recorded and judged by a single conditional statement:
/// a poll sooner than the code's interval after the previous one is early; it grows the
/// interval by 5 s (up to 60) and leaves the previous poll's time alone. Concurrent polls
/// are serialized by the row lock, so at most one of them is on time.
struct DevicePoll {
    let authorizationID: UUID
    /// The client's row id (not its `client_id`).
    let clientID: UUID
    let status: DeviceAuthorization.Status
    let expiresAt: Date
    let pollInterval: Int
    let wasEarly: Bool

    static let slowDownStep = 5
    static let maxInterval = 60

    /// Records a poll of the code with this hash by the public client with this `client_id`;
    /// `nil` when there is no such client, or no such unexchanged code of it. With `writer`
    /// (a SQLite file), the update runs on the writer's connection, not one of `db`'s.
    static func record(
        deviceCodeHash: String, clientID: String, at now: Date, on db: any Database, writer: SQLiteWriter? = nil
    ) async throws -> DevicePoll? {
        let early: SQLQueryString =
            "(last_polled_at IS NOT NULL AND \(SecondsAfter(timestamp: "last_polled_at", seconds: "poll_interval")) > \(bind: now))"
        let row = try await (writer?.sql ?? db.sql).raw(
            """
            UPDATE device_authorizations SET
                last_poll_was_early = \(early),
                poll_interval = CASE WHEN \(early) AND poll_interval + \(literal: slowDownStep) <= \(literal: maxInterval)
                    THEN poll_interval + \(literal: slowDownStep)
                    WHEN \(early) THEN \(literal: maxInterval) ELSE poll_interval END,
                last_polled_at = CASE WHEN \(early) THEN last_polled_at ELSE \(bind: now) END
            WHERE device_code_hash = \(bind: deviceCodeHash) AND status <> 'consumed'
                AND client_id = (SELECT id FROM clients WHERE client_id = \(bind: clientID) AND secret_hash IS NULL)
            RETURNING id, client_id, status, expires_at, poll_interval, last_poll_was_early
            """
        ).first()
        guard let row else { return nil }
        return DevicePoll(
            authorizationID: try row.decode(column: "id", as: UUID.self),
            clientID: try row.decode(column: "client_id", as: UUID.self),
            status: try row.decode(column: "status", as: DeviceAuthorization.Status.self),
            expiresAt: try row.decode(column: "expires_at", as: Date.self),
            pollInterval: try row.decode(column: "poll_interval", as: Int.self),
            wasEarly: try row.decode(column: "last_poll_was_early", as: Bool.self))
    }
}
