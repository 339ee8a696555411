import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import PortalDatabase
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
    /// Where an approved code is to become a token; the exchange locks it first.
    let approvedOrganizationID: UUID?
    let expiresAt: Date
    let pollInterval: Int
    let wasEarly: Bool

    static let slowDownStep = 5
    static let maxInterval = 60

    /// The statement, written once: `?1` the time of the poll, `?2` the code's hash, `?3` the
    /// client's `client_id`; `{early}` is whether this poll comes before the code's interval
    /// has passed since the last one, as each database adds seconds to a time.
    struct Statement: HotPathStatement {
        private static let text = """
            UPDATE device_authorizations SET
                last_poll_was_early = {early},
                poll_interval = CASE WHEN {early} AND poll_interval + \(slowDownStep) <= \(maxInterval)
                    THEN poll_interval + \(slowDownStep) WHEN {early} THEN \(maxInterval) ELSE poll_interval END,
                last_polled_at = CASE WHEN {early} THEN last_polled_at ELSE ?1 END
            WHERE device_code_hash = ?2 AND status <> 'consumed'
                AND client_id = (SELECT id FROM clients WHERE client_id = ?3 AND secret_hash IS NULL)
            RETURNING id, client_id, status, approved_organization_id, expires_at, poll_interval, last_poll_was_early
            """
        /// SQLite keeps times as seconds since 1970, PostgreSQL as `timestamptz`.
        static let sqliteSQL = text.replacingOccurrences(
            of: "{early}",
            with: "(last_polled_at IS NOT NULL AND last_polled_at + poll_interval > ?1)"
        )
        static let sql = StatementText.postgres(
            text.replacingOccurrences(
                of: "{early}",
                with: "(last_polled_at IS NOT NULL AND last_polled_at + poll_interval * INTERVAL '1 second' > ?1)"
            )
        )

        let now: Date
        let deviceCodeHash: String
        let clientID: String
        var values: [StatementValue] { [.date(now), .text(deviceCodeHash), .text(clientID)] }
    }

    /// Records a poll of the code with this hash by the public client with this `client_id`;
    /// `nil` when there is no such client, or no such unexchanged code of it. On PostgreSQL the
    /// statement is prepared once per connection (unless `hotPath` says not to); on a SQLite file
    /// it runs on the writer's connection, not one of `db`'s.
    static func record(
        deviceCodeHash: String,
        clientID: String,
        at now: Date,
        on db: any Database,
        hotPath: HotPath
    ) async throws -> DevicePoll? {
        let statement = Statement(now: now, deviceCodeHash: deviceCodeHash, clientID: clientID)
        let row: (any SQLRow)?
        if let postgres = db as? any PostgresDatabase {
            row = try await statement.firstRow(on: postgres, prepared: hotPath.preparesStatements, logger: db.logger)
        } else if let writer = hotPath.writer {
            row = try await writer.query(Statement.sqliteSQL, statement.sqliteBinds).first?.sql()
        } else if let sqlite = db as? any SQLiteDatabase {
            row = try await sqlite.query(Statement.sqliteSQL, statement.sqliteBinds).first?.sql()
        } else {
            throw UnsupportedDatabase()
        }
        return try row.map(DevicePoll.init(row:))
    }

    /// A held poll answered now (`Prefer: wait`): the code's state at this moment, and this
    /// moment recorded as the poll's time, from which the next poll's interval counts.
    static func answered(_ held: DevicePoll, at now: Date, on db: any Database) async throws -> DevicePoll? {
        try await db.sql.update(DeviceAuthorization.schema)
            .set("last_polled_at", to: now)
            .set("last_poll_was_early", to: false)
            .where("id", .equal, held.authorizationID)
            .where("status", .notEqual, DeviceAuthorization.Status.consumed.rawValue)
            .returning(SQLColumn("*"))
            .first()
            .map(DevicePoll.init(row:))
    }

    private init(row: any SQLRow) throws {
        authorizationID = try row.decode(column: "id", as: UUID.self)
        clientID = try row.decode(column: "client_id", as: UUID.self)
        status = try row.decode(column: "status", as: DeviceAuthorization.Status.self)
        approvedOrganizationID = try row.decode(column: "approved_organization_id", as: UUID?.self)
        expiresAt = try row.decode(column: "expires_at", as: Date.self)
        pollInterval = try row.decode(column: "poll_interval", as: Int.self)
        wasEarly = try row.decode(column: "last_poll_was_early", as: Bool.self)
    }
}
