import Fluent
import Foundation
import VaporTesting

@testable import DevicePortal

// Rows changed behind the portal's back, as time or another process would change them, and
// the whole database read back.

/// Makes every recorded poll look `secondsAgo` old, as if the app had waited that long.
func rewindPolls(_ app: Application, to secondsAgo: TimeInterval = 120) async throws {
    for authorization in try await DeviceAuthorization.query(on: app.db).all() where authorization.lastPolledAt != nil {
        authorization.lastPolledAt = Date().addingTimeInterval(-secondsAgo)
        try await authorization.save(on: app.db)
    }
}

/// Everything the database holds, as text, for looking for secrets in it.
func databaseContents(_ app: Application) async throws -> Data {
    switch app.config.database {
    case .sqliteFile(let file):
        return ["", "-wal"].reduce(into: Data()) { bytes, suffix in
            bytes.append((try? Data(contentsOf: URL(fileURLWithPath: file + suffix))) ?? Data())
        }
    case .postgres:
        let tables = try await app.db.sql.raw(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).all().map { try $0.decode(column: "tablename", as: String.self) }
        var text = ""
        for table in tables {
            for row in try await app.db.sql.raw("SELECT t::text AS row FROM \(ident: table) t").all() {
                text += try row.decode(column: "row", as: String.self) + "\n"
            }
        }
        return Data(text.utf8)
    case .sqliteMemory:
        return Data()
    }
}

/// Moves every device code's expiry into the past.
func expireCodes(_ app: Application) async throws {
    for authorization in try await DeviceAuthorization.query(on: app.db).all() {
        authorization.expiresAt = Date().addingTimeInterval(-1)
        try await authorization.save(on: app.db)
    }
}

enum MembershipTestSupport {
    /// Deletes a membership behind the portal's back, leaving the member's tokens unrevoked,
    /// as if the row had gone some other way: the guard must still refuse them.
    static func deleteMembership(of user: User, in organization: Organization, on db: any Database) async throws {
        try await Membership.query(on: db).filter(\.$user.$id == user.requireID())
            .filter(\.$organization.$id == organization.requireID()).delete()
    }
}
