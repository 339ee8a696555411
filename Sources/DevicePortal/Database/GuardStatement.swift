import FluentKit
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import SQLKit

/// One of the guard's statements, written once with `?1`, `?2`, … for its values, and prepared
/// once per connection: on a SQLite file it runs on the `SQLiteReader`; on PostgreSQL as a
/// prepared statement, which PostgresNIO prepares once on each connection under the type's name.
/// In-memory SQLite, or a SQLite file whose reader fails, runs it through sqlite-kit.
///
/// A conforming type declares `text`, and `sql` and `onSQLite` made from it with
/// `GuardSQL.postgres` and `GuardSQL.sqlite`, each once.
protocol GuardStatement: PostgresPreparedStatement where Row == any SQLRow {
    static var onSQLite: SQLiteReader.Statement { get }
    var values: [GuardValue] { get }
}

enum GuardValue: Sendable {
    case text(String)
    case uuid(UUID)
    case date(Date)

    /// As sqlite-kit stores them: UUIDs as upper-case text, dates as seconds since 1970.
    var sqliteData: SQLiteData {
        switch self {
        case .text(let text): .text(text)
        case .uuid(let uuid): .text(uuid.uuidString)
        case .date(let date): .float(date.timeIntervalSince1970)
        }
    }
}

extension GuardStatement {
    func firstRow(on db: any Database, reader: SQLiteReader?) async throws -> (any SQLRow)? {
        if let postgres = db as? any PostgresDatabase {
            let logger = db.logger
            return try await postgres.withConnection { connection in
                connection.eventLoop.makeFutureWithTask { try await firstRow(on: connection, logger: logger) }
            }.get()
        }
        guard let sqlite = db as? any SQLiteDatabase else { preconditionFailure("neither SQLite nor PostgreSQL") }
        let binds = values.map(\.sqliteData)
        if let reader {
            do {
                return try reader.read(Self.onSQLite, binds)
            } catch {
                // Busy, or a failure sqlite-kit's connection will report in full.
                db.logger.warning("The SQLite reader failed, running the statement through sqlite-kit: \(error)")
            }
        }
        return try await sqlite.query(Self.onSQLite.sql, binds).first?.sql()
    }

    private func firstRow(on connection: PostgresConnection, logger: Logger) async throws -> (any SQLRow)? {
        var first: (any SQLRow)?
        // Every row is read (there is at most one), so that the connection is left clean.
        for try await row in try await connection.execute(self, logger: logger) where first == nil {
            first = row
        }
        return first
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .text(let text): bindings.append(text)
            case .uuid(let uuid): bindings.append(uuid)
            case .date(let date): bindings.append(date)
            }
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> any SQLRow { row.sql() }
}

/// A guard statement's text for each database, from one written with `?1`, `?2`, ….
enum GuardSQL {
    /// `$1`, `$2`, …
    static func postgres(_ text: String) -> String { replacingPlaceholders(in: text, with: "$") }

    /// `+?1`, not `?1`: SQLite's planner looks into a bare parameter's value, and then every
    /// new value expires the statement, so that each read would prepare it again.
    static func sqlite(_ text: String) -> String { replacingPlaceholders(in: text, with: "+?") }

    private static func replacingPlaceholders(in text: String, with mark: String) -> String {
        var result = ""
        var rest = text[...]
        while let question = rest.firstIndex(of: "?") {
            let digits = rest[rest.index(after: question)...].prefix(while: \.isNumber)
            precondition(!digits.isEmpty, "`?` without a number in \(text)")
            result += rest[..<question] + mark + digits
            rest = rest[digits.endIndex...]
        }
        return result + rest
    }
}
