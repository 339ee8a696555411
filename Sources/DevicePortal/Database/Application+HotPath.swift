import PortalDatabase
import Vapor

extension Application {
    var hotPath: HotPath {
        HotPath(reader: sqliteReader, writer: sqliteWriter, preparesStatements: config.databasePreparedStatements)
    }
}

extension Application {
    private struct SQLiteReaderKey: StorageKey {
        typealias Value = SQLiteReader
    }

    /// The guard's reader when the database is a SQLite file; `nil` otherwise (an in-memory
    /// database is private to one connection).
    var sqliteReader: SQLiteReader? {
        get { storage[SQLiteReaderKey.self] }
        set { storage[SQLiteReaderKey.self] = newValue }
    }
}

extension Application {
    private struct SQLiteWriterKey: StorageKey {
        typealias Value = SQLiteWriter
    }

    /// The poll's connection when the database is a SQLite file; `nil` otherwise (an in-memory
    /// database is private to one connection, and PostgreSQL's row locks need none of this).
    var sqliteWriter: SQLiteWriter? {
        get { storage[SQLiteWriterKey.self] }
        set { storage[SQLiteWriterKey.self] = newValue }
    }
}
