import FluentKit
import FluentPostgresDriver
import FluentSQLiteDriver
import Foundation
import SQLKit

/// A statement of a hot path, written once with `?1`, `?2`, … for its values: on PostgreSQL a
/// prepared statement, which PostgresNIO prepares once on each connection under the type's name.
package protocol HotPathStatement: PostgresPreparedStatement where Row == any SQLRow {
    var values: [StatementValue] { get }
}

/// One of the guard's statements: on a SQLite file it runs on the `SQLiteReader`, prepared once
/// per reader connection; in-memory SQLite, or a SQLite file whose reader fails, runs it
/// through sqlite-kit.
///
/// A conforming type makes `sql` and `onSQLite` once, from one text, with `StatementText.postgres`
/// and `StatementText.sqlite`.
package protocol GuardStatement: HotPathStatement {
    static var onSQLite: SQLiteReader.Statement { get }
}

package enum StatementValue: Sendable {
    case text(String)
    case uuid(UUID)
    case date(Date)

    /// As sqlite-kit stores them: UUIDs as upper-case text, dates as seconds since 1970.
    package var sqliteData: SQLiteData {
        switch self {
        case .text(let text): .text(text)
        case .uuid(let uuid): .text(uuid.uuidString)
        case .date(let date): .float(date.timeIntervalSince1970)
        }
    }
}

/// Where the hot paths' statements run: the SQLite file's own reader and writer connections,
/// when there are any, and whether PostgreSQL connections may keep named prepared statements
/// (`DATABASE_PREPARED_STATEMENTS`; a transaction pooler such as PgBouncer keeps none).
package struct HotPath: Sendable {
    package let reader: SQLiteReader?
    package let writer: SQLiteWriter?
    package let preparesStatements: Bool

    package init(reader: SQLiteReader?, writer: SQLiteWriter?, preparesStatements: Bool) {
        self.reader = reader
        self.writer = writer
        self.preparesStatements = preparesStatements
    }
}

extension GuardStatement {
    package func firstRow(on db: any Database, hotPath: HotPath) async throws -> (any SQLRow)? {
        if let postgres = db as? any PostgresDatabase {
            return try await firstRow(on: postgres, prepared: hotPath.preparesStatements, logger: db.logger)
        }
        guard let sqlite = db as? any SQLiteDatabase else { throw UnsupportedDatabase() }
        if let reader = hotPath.reader, case .success(let row) = Result(catching: { try readAtOnce(on: reader) }) {
            return row
        }
        return try await sqlite.query(Self.onSQLite.sql, sqliteBinds).first?.sql()
    }

    /// Read on this thread; throws when the reader cannot read (it then logs and rests).
    package func readAtOnce(on reader: SQLiteReader) throws -> SQLiteReader.Row? {
        try reader.read(Self.onSQLite, sqliteBinds)
    }
}

/// A statement's text for each database, from one written with `?1`, `?2`, ….
package enum StatementText {
    /// `$1`, `$2`, …
    package static func postgres(_ text: String) -> String { replacingPlaceholders(in: text, with: "$") }

    /// `+?1`, not `?1`: SQLite's planner looks into a bare parameter's value, and then every
    /// new value expires the statement, so that each read would prepare it again.
    package static func sqlite(_ text: String) -> String { replacingPlaceholders(in: text, with: "+?") }

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

extension HotPathStatement {
    package var sqliteBinds: [SQLiteData] { values.map(\.sqliteData) }

    package func makeBindings() throws -> PostgresBindings {
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

    /// The first row, from a statement prepared once on the connection (`prepared`), or from an
    /// unnamed one, which a transaction pooler can carry (it is parsed with every execution).
    /// A connection on which a prepared statement fails for a reason that is not the request's
    /// own data is closed, so that the pool replaces it: PostgresNIO can keep a failed preparation
    /// for the connection's life, failing every later request on it.
    package func firstRow(
        on postgres: any PostgresDatabase,
        prepared: Bool,
        logger: Logger
    ) async throws -> (
        any SQLRow
    )? {
        guard prepared else { return try await firstUnnamedRow(on: postgres, logger: logger).get() }
        return try await postgres.withConnection { connection in
            connection.eventLoop.makeFutureWithTask {
                do {
                    var first: (any SQLRow)?
                    // Every row is read (there is at most one), so that the connection is left clean.
                    for try await row in try await connection.execute(self, logger: logger) where first == nil {
                        first = row
                    }
                    return first
                } catch let error as PSQLError {
                    if !Self.isDataError(error) { try? await connection.close() }
                    throw error
                }
            }
        }.get()
    }

    /// The first row of an unnamed statement, on the connection's event loop with no task of its
    /// own: PostgresNIO's future interface reads the answer whole (hot statements return one row).
    package func firstUnnamedRow(on postgres: any PostgresDatabase, logger: Logger) -> EventLoopFuture<(any SQLRow)?> {
        let query: PostgresQuery
        do {
            query = PostgresQuery(unsafeSQL: Self.sql, binds: try makeBindings())
        } catch {
            return postgres.eventLoop.makeFailedFuture(error)
        }
        return postgres.withConnection { connection in
            connection.query(query, logger: logger).map { result in result.first?.sql() }
        }
    }

    /// SQLSTATE class 22 (data exception) and 23 (integrity constraint): the request's values,
    /// which leave the connection as good as it was.
    private static func isDataError(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    package func decodeRow(_ row: PostgresRow) throws -> any SQLRow { row.sql() }
}

/// A database that is neither SQLite nor PostgreSQL, which `configure` never sets up.
package struct UnsupportedDatabase: Error {
    package init() {}
}
