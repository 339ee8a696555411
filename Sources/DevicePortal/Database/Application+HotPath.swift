import PortalDatabase
import Vapor

extension Application {
    private struct HotPathKey: StorageKey {
        typealias Value = HotPath
    }

    /// Where the guard's and the poll's statements run: one storage read per request. The SQLite
    /// reader and writer are set when the database is prepared; until then, none.
    var hotPath: HotPath {
        storage[HotPathKey.self]
            ?? HotPath(reader: nil, writer: nil, preparesStatements: config.databasePreparedStatements)
    }

    /// The guard's reader when the database is a SQLite file; `nil` otherwise (an in-memory
    /// database is private to one connection).
    var sqliteReader: SQLiteReader? {
        get { hotPath.reader }
        set {
            storage[HotPathKey.self] = HotPath(
                reader: newValue,
                writer: sqliteWriter,
                preparesStatements: preparesStatements
            )
        }
    }

    /// The poll's connection when the database is a SQLite file; `nil` otherwise (an in-memory
    /// database is private to one connection, and PostgreSQL's row locks need none of this).
    var sqliteWriter: SQLiteWriter? {
        get { hotPath.writer }
        set {
            storage[HotPathKey.self] = HotPath(
                reader: sqliteReader,
                writer: newValue,
                preparesStatements: preparesStatements
            )
        }
    }

    private var preparesStatements: Bool { hotPath.preparesStatements }
}
