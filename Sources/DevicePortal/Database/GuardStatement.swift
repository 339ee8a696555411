import FluentKit
import FluentSQLiteDriver
import Foundation
import SQLKit

/// One of the guard's statements, written once with `?1`, `?2`, … for its values. On a SQLite
/// file it runs on the `SQLiteReader`; on PostgreSQL, in-memory SQLite, or when the reader
/// fails, through SQLKit.
struct GuardStatement: Sendable {
    enum Value: Sendable {
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

        var encodable: any Encodable & Sendable {
            switch self {
            case .text(let text): text
            case .uuid(let uuid): uuid
            case .date(let date): date
            }
        }
    }

    let onSQLite: SQLiteReader.Statement
    /// The text between placeholders, each followed by the position of its value (none after the last).
    private let pieces: [(text: Substring, value: Int?)]

    init(_ sql: String) {
        pieces = Self.split(sql)
        // `+?1`, not `?1`: SQLite's planner looks into a bare parameter's value, and then every
        // new value expires the statement, so that each read would prepare it again.
        onSQLite = SQLiteReader.Statement(
            pieces.map { piece in piece.text + (piece.value.map { "+?\($0 + 1)" } ?? "") }.joined())
    }

    func firstRow(_ values: [Value], on db: any Database, reader: SQLiteReader?) async throws -> (any SQLRow)? {
        if let reader, db is any SQLiteDatabase {
            do {
                return try reader.read(onSQLite, values.map(\.sqliteData))
            } catch {
                // Busy, or a failure sqlite-kit's connection will report in full.
                db.logger.warning("The SQLite reader failed, running the statement through sqlite-kit: \(error)")
            }
        }
        var query = SQLQueryString("")
        for piece in pieces {
            query.appendLiteral(String(piece.text))
            if let value = piece.value { query.appendInterpolation(bind: values[value].encodable) }
        }
        return try await db.sql.raw(query).first()
    }

    private static func split(_ sql: String) -> [(text: Substring, value: Int?)] {
        var pieces: [(text: Substring, value: Int?)] = []
        var rest = sql[...]
        while let mark = rest.firstIndex(of: "?") {
            let digits = rest[rest.index(after: mark)...].prefix(while: \.isNumber)
            guard let position = Int(digits) else { preconditionFailure("`?` without a number in \(sql)") }
            pieces.append((rest[..<mark], position - 1))
            rest = rest[digits.endIndex...]
        }
        pieces.append((rest, nil))
        return pieces
    }
}
