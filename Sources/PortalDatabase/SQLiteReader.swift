import FluentSQLiteDriver
import Foundation
import NIOConcurrencyHelpers
// The SQLite that sqlite-nio compiles in (its symbols prefixed `sqlite_nio_`). It must be that
// one: two copies of SQLite in one process release each other's POSIX locks on the same file.
import VaporCSQLite

/// Read-only connections to the SQLite file for the guard's statements, which run on the
/// calling thread, each prepared once per connection.
///
/// Through sqlite-kit every statement is prepared again and sent to a thread pool and back;
/// for the guard's one indexed read both cost more than the read itself (a few index pages,
/// from the OS's cache once another connection has written), so it runs where the request is,
/// even on an event loop. A
/// reader in WAL mode does not wait for the writer; it has no busy handler, so it never sleeps
/// on the caller's thread (`GuardStatement` runs the statement through sqlite-kit when the
/// reader fails).
package final class SQLiteReader: Sendable {
    /// A statement's text, prepared once on each connection that runs it.
    package final class Statement: Sendable {
        package let sql: String

        package init(_ sql: String) {
            self.sql = sql
        }
    }

    /// A read never suspends, so there are never more connections than threads that read at once.
    private struct Pool {
        package var idle: [Connection] = []
        package var closed = false
        /// After a failure the reader rests a while, so that a reader that cannot work costs
        /// neither an attempt nor a log line per request.
        package var restingUntil: ContinuousClock.Instant?
    }

    package static let rest = Duration.seconds(10)
    private let path: String
    private let logger: Logger
    private let pool = NIOLockedValueBox(Pool())

    package init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    /// The first row of `statement` with `binds` (in order, `?1`, `?2`, …), read on this thread.
    /// Throws when SQLite fails (busy, or anything else) and, for `rest` after that, at once.
    package func read(_ statement: Statement, _ binds: [SQLiteData]) throws -> Row? {
        let now = ContinuousClock.now
        let idle = try pool.withLockedValue { pool in
            if let until = pool.restingUntil, now < until { throw Failure.resting }
            return pool.idle.popLast()
        }
        do {
            let connection = try idle ?? Connection(path: path)
            defer { giveBack(connection) }
            return try connection.firstRow(statement, binds)
        } catch {
            pool.withLockedValue { $0.restingUntil = now + Self.rest }
            logger.warning("The SQLite reader failed; the guard reads through sqlite-kit for \(Self.rest): \(error)")
            throw error
        }
    }

    private func giveBack(_ connection: Connection) {
        let closed = pool.withLockedValue { pool in
            if !pool.closed { pool.idle.append(connection) }
            return pool.closed
        }
        if closed { connection.close() }
    }

    /// Closes the idle connections; one in use is closed when it is given back.
    package func close() {
        let idle = pool.withLockedValue { pool in
            pool.closed = true
            defer { pool.idle = [] }
            return pool.idle
        }
        idle.forEach { $0.close() }
    }

    /// What the idle connections did, for tests and diagnostics: statements prepared, and
    /// prepared again by SQLite itself (which a statement that lets the planner see its values
    /// does on every new value).
    package struct Statistics: Equatable {
        package var connections = 0
        package var prepared = 0
        package var reprepared = 0
    }

    package var statistics: Statistics {
        pool.withLockedValue { pool in
            pool.idle.reduce(into: Statistics()) { total, connection in
                total.connections += 1
                total.prepared += connection.prepared.count
                total.reprepared += connection.prepared.values.reduce(0) {
                    $0 + Int(sqlite_nio_sqlite3_stmt_status($1.statement, SQLITE_STMTSTATUS_REPREPARE, 0))
                }
            }
        }
    }

    package struct Failure: Error, Equatable, CustomStringConvertible {
        package let code: Int32
        package let message: String

        package var description: String { "SQLite error \(code): \(message)" }

        package static let resting = Failure(code: SQLITE_BUSY, message: "resting after a failure")
    }
}

extension SQLiteReader {
    /// One `sqlite3` handle and its prepared statements. Used by one thread at a time: it is
    /// taken from the pool under its lock and given back after the read.
    fileprivate final class Connection: @unchecked Sendable {
        private var handle: OpaquePointer?
        /// By the `Statement` object, which the entry keeps alive so that its identifier is never reused.
        private(set) var prepared: [ObjectIdentifier: (key: Statement, statement: OpaquePointer, columns: Columns)] =
            [:]

        package init(path: String) throws {
            // No mutex of SQLite's own (one thread at a time) and no busy handler (busy → fallback).
            let flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
            guard status == SQLITE_OK else {
                defer { close() }
                throw failure(status)
            }
        }

        package func firstRow(_ statement: Statement, _ binds: [SQLiteData]) throws -> Row? {
            let (handle, columns) = try prepare(statement)
            defer {
                sqlite_nio_sqlite3_reset(handle)
                sqlite_nio_sqlite3_clear_bindings(handle)
            }
            for (index, value) in binds.enumerated() {
                try check(bind(value, at: Int32(index + 1), to: handle))
            }
            switch sqlite_nio_sqlite3_step(handle) {
            case SQLITE_ROW: return Row(columns: columns, values: (0..<Int32(columns.count)).map { value(handle, $0) })
            case SQLITE_DONE: return nil
            case let status: throw failure(status)
            }
        }

        private func prepare(_ statement: Statement) throws -> (statement: OpaquePointer, columns: Columns) {
            if let prepared = prepared[ObjectIdentifier(statement)] { return (prepared.statement, prepared.columns) }
            var handle: OpaquePointer?
            try check(
                sqlite_nio_sqlite3_prepare_v3(
                    self.handle,
                    statement.sql,
                    -1,
                    UInt32(SQLITE_PREPARE_PERSISTENT),
                    &handle,
                    nil
                )
            )
            guard let handle else { throw Failure(code: SQLITE_MISUSE, message: "empty statement") }
            let names = (0..<sqlite_nio_sqlite3_column_count(handle)).map {
                String(cString: sqlite_nio_sqlite3_column_name(handle, $0))
            }
            let columns = Columns(names)
            prepared[ObjectIdentifier(statement)] = (statement, handle, columns)
            return (handle, columns)
        }

        private func bind(_ value: SQLiteData, at index: Int32, to statement: OpaquePointer) -> Int32 {
            switch value {
            case .text(let text):
                sqlite_nio_sqlite3_bind_text64(
                    statement,
                    index,
                    text,
                    UInt64(text.utf8.count),
                    SQLiteReader.transient,
                    UInt8(SQLITE_UTF8)
                )
            case .integer(let integer): sqlite_nio_sqlite3_bind_int64(statement, index, Int64(integer))
            case .float(let float): sqlite_nio_sqlite3_bind_double(statement, index, float)
            case .null: sqlite_nio_sqlite3_bind_null(statement, index)
            case .blob(let blob):
                blob.withUnsafeReadableBytes {
                    sqlite_nio_sqlite3_bind_blob64(
                        statement,
                        index,
                        $0.baseAddress,
                        UInt64($0.count),
                        SQLiteReader.transient
                    )
                }
            }
        }

        private func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteData {
            switch sqlite_nio_sqlite3_column_type(statement, column) {
            case SQLITE_INTEGER: .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
            case SQLITE_FLOAT: .float(sqlite_nio_sqlite3_column_double(statement, column))
            case SQLITE_TEXT: .text(String(cString: sqlite_nio_sqlite3_column_text(statement, column)))
            case SQLITE_BLOB:
                .blob(
                    ByteBuffer(
                        bytes: UnsafeRawBufferPointer(
                            start: sqlite_nio_sqlite3_column_blob(statement, column),
                            count: Int(sqlite_nio_sqlite3_column_bytes(statement, column))
                        )
                    )
                )
            default: .null
            }
        }

        private func check(_ status: Int32) throws {
            guard status == SQLITE_OK else { throw failure(status) }
        }

        private func failure(_ status: Int32) -> Failure {
            Failure(
                code: status,
                message: handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? ""
            )
        }

        package func close() {
            prepared.values.forEach { sqlite_nio_sqlite3_finalize($0.statement) }
            prepared = [:]
            sqlite_nio_sqlite3_close(handle)
            handle = nil
        }
    }

    /// Tells SQLite to copy a bound text or blob (`SQLITE_TRANSIENT`, a macro Swift cannot import).
    fileprivate static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension SQLiteReader {
    /// A statement's column names and their positions, worked out when it is prepared.
    package final class Columns: Sendable {
        package let count: Int
        private let positions: [String: Int]

        package init(_ names: [String]) {
            count = names.count
            positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        }

        package func position(of name: String) -> Int? { positions[name] }
        package var names: [String] { positions.sorted { $0.value < $1.value }.map(\.key) }
    }

    /// A row read as an `SQLRow`: the types the guard reads are converted directly, not through
    /// sqlite-kit's `Codable` decoder, whose dynamic casts cost as much as the conversions.
    package struct Row: SQLRow {
        package let columns: Columns
        package let values: [SQLiteData]

        package var allColumns: [String] { columns.names }

        package func contains(column: String) -> Bool { columns.position(of: column) != nil }

        package func decodeNil(column: String) throws -> Bool { try data(column) == .null }

        package func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
            let data = try data(column)
            let value: Any?
            switch type {
            case is String.Type: value = String(sqliteData: data)
            case is UUID.Type: value = String(sqliteData: data).flatMap(UUID.init(uuidString:))
            case is Date.Type: value = Date(sqliteData: data)
            case is String?.Type:
                value = data == .null ? String?.none as Any : String(sqliteData: data).map { $0 as Any }
            case is Date?.Type: value = data == .null ? Date?.none as Any : Date(sqliteData: data).map { $0 as Any }
            default: return try SQLiteDataDecoder().decode(type, from: data)
            }
            guard let value = value as? D else {
                throw DecodingError.typeMismatch(
                    D.self,
                    .init(codingPath: [], debugDescription: "Column \(column) is not a \(D.self): \(data)")
                )
            }
            return value
        }

        private func data(_ column: String) throws -> SQLiteData {
            guard let position = columns.position(of: column) else { throw MissingColumn(column: column) }
            return values[position]
        }

        package struct MissingColumn: Error {
            let column: String
        }
    }
}
