import Fluent
import FluentPostgresDriver
import Foundation
import PortalDatabase
import SQLKit

/// The guard's query for an API token: one indexed lookup by hash that also reads the
/// user's *current* membership and role, so a role change or removal counts at once.
enum APITokenLookup {
    enum Failure: String, Error {
        case unknown, revoked, expired, notAMember = "not_a_member"

        var description: String {
            switch self {
            case .unknown: "The token is not valid."
            case .revoked: "The token has been revoked."
            case .expired: "The token has expired."
            case .notAMember: "The token's user is no longer a member of its organization."
            }
        }
    }

    /// The one statement: the token by its hash (unique index), its user and organization, and
    /// the *current* membership and role (left joins: none means no longer a member).
    struct Statement: GuardStatement {
        static let text = """
            SELECT t.id AS token_id, t.expires_at, t.revoked_at, t.last_used_at, \(Principal.columns) \
            FROM api_tokens t \
            JOIN users u ON u.id = t.user_id \
            JOIN organizations o ON o.id = t.organization_id \
            LEFT JOIN memberships m ON m.user_id = t.user_id AND m.organization_id = t.organization_id \
            LEFT JOIN roles r ON r.id = m.role_id \
            WHERE t.token_hash = ?1
            """
        static let sql = StatementText.postgres(text)
        static let onSQLite = SQLiteReader.Statement(StatementText.sqlite(text))

        let tokenHash: String
        var values: [StatementValue] { [.text(tokenHash)] }
    }

    /// On PostgreSQL without prepared statements, `Statement`'s join as a call of the PL/pgSQL
    /// function made of it (`CreateAPITokenLookupFunction`), which keeps the join's plan on each
    /// server connection: parsing and planning the join itself took 470 µs of the server's time
    /// per request, the call 14 µs. With prepared statements the join is cheaper to run directly.
    struct FunctionCall: HotPathStatement {
        static let sql = "SELECT * FROM portal_api_token_principal($1)"

        let tokenHash: String
        var values: [StatementValue] { [.text(tokenHash)] }
    }

    /// The look-up's row, by the statement that suits the database and `hotPath`.
    static func row(tokenHash: String, on db: any Database, hotPath: HotPath) async throws -> (any SQLRow)? {
        if !hotPath.preparesStatements, let postgres = db as? any PostgresDatabase {
            return try await FunctionCall(tokenHash: tokenHash).firstUnnamedRow(on: postgres, logger: db.logger).get()
        }
        return try await Statement(tokenHash: tokenHash).firstRow(on: db, hotPath: hotPath)
    }

    /// `last_used_at` is written at most this often per token, not on every request.
    static let lastUsedResolution: TimeInterval = 60

    /// The token's principal; with `recordUse`, the use (time and the caller's IP) is kept too.
    /// `ip` is worked out only when the use is written, about once a minute.
    static func principal(
        token: String,
        at now: Date,
        recordUse: Bool = true,
        ip: @autoclosure () -> String? = nil,
        on db: any Database,
        hotPath: HotPath
    ) async throws -> Principal {
        let row = try await row(tokenHash: OpaqueSecret.hash(token), on: db, hotPath: hotPath)
        let (principal, lastUsed) = try principal(from: row, at: now)
        if recordUse, isDue(lastUsed, at: now), case .apiToken(let tokenID, _) = principal.credential {
            try await markUsed(tokenID: tokenID, at: now, ip: ip(), on: db)
        }
        return principal
    }

    /// On PostgreSQL without prepared statements, the guard's principal without a task: the
    /// statement runs on the connection's event loop, and the future holds `nil` when the token's
    /// use is due (then `principal(…)` records it). `nil` on SQLite and with prepared statements.
    static func principalOnEventLoop(
        token: String,
        at now: Date,
        on db: any Database,
        hotPath: HotPath
    ) -> EventLoopFuture<Principal?>? {
        guard !hotPath.preparesStatements, let postgres = db as? any PostgresDatabase else { return nil }
        return FunctionCall(tokenHash: OpaqueSecret.hash(token)).firstUnnamedRow(on: postgres, logger: db.logger)
            .flatMapThrowing { row in
                let (principal, lastUsed) = try principal(from: row, at: now)
                return isDue(lastUsed, at: now) ? nil : principal
            }
    }

    /// The guard's principal without waiting for anything: read on the SQLite reader, when the
    /// token's use was recorded less than `lastUsedResolution` ago. `nil` when that cannot be
    /// (the reader failed, or the use is due): then `principal(…)` does it all.
    static func principalAtOnce(token: String, at now: Date, reader: SQLiteReader) throws -> Principal? {
        let read = Result { try Statement(tokenHash: OpaqueSecret.hash(token)).readAtOnce(on: reader) }
        guard case .success(let row) = read else { return nil }
        let (principal, lastUsed) = try principal(from: row, at: now)
        return isDue(lastUsed, at: now) ? nil : principal
    }

    private static func principal(from row: (any SQLRow)?, at now: Date) throws -> (Principal, lastUsed: Date?) {
        guard let row else { throw Failure.unknown }
        guard try row.decode(column: "revoked_at", as: Date?.self) == nil else { throw Failure.revoked }
        let expiresAt = try row.decode(column: "expires_at", as: Date.self)
        guard expiresAt > now else { throw Failure.expired }
        let tokenID = try row.decode(column: "token_id", as: UUID.self)
        guard let principal = try Principal(row: row, credential: .apiToken(id: tokenID, expiresAt: expiresAt)) else {
            throw Failure.notAMember
        }
        return (principal, try row.decode(column: "last_used_at", as: Date?.self))
    }

    private static func isDue(_ lastUsed: Date?, at now: Date) -> Bool {
        lastUsed.map { now.timeIntervalSince($0) >= lastUsedResolution } ?? true
    }

    /// Conditional, so that concurrent requests with one token write once.
    private static func markUsed(tokenID: UUID, at now: Date, ip: String?, on db: any Database) async throws {
        try await db.sql.update(APIToken.schema)
            .set("last_used_at", to: now)
            .set("last_used_ip", to: ip)
            .where("id", .equal, tokenID)
            .where {
                $0.where("last_used_at", .is, SQLLiteral.null)
                    .orWhere("last_used_at", .lessThan, now.addingTimeInterval(-lastUsedResolution))
            }
            .run()
    }
}
