import FluentSQLiteDriver
import NIOPosix

/// A SQLite connection of its own, on a thread of its own, for the write every poll makes.
///
/// SQLite has one writer at a time, and sqlite-kit keeps one connection per event loop: two of
/// them updating at once make one sleep in SQLite's busy handler (1 ms, then 2, 5, …) while it
/// holds its connection, which stalls every request of its event loop (2,400 such sleeps in 8 s
/// of polling). Polls sent here queue on this connection's thread instead and run back to back,
/// in memory, while reads keep sqlite-kit's connections. An in-process lock around the update
/// was slower: it also held the thread hops of each query.
package final class SQLiteWriter: Sendable {
    private let connection: SQLiteConnection
    private let thread: NIOThreadPool

    private init(connection: SQLiteConnection, thread: NIOThreadPool) {
        self.connection = connection
        self.thread = thread
    }

    package func query(_ sql: String, _ binds: [SQLiteData]) async throws -> [SQLiteRow] {
        try await connection.query(sql, binds)
    }

    /// Opens the file with the settings of sqlite-kit's connections and `tuneSQLite`.
    package static func open(path: String, on eventLoop: any EventLoop, logger: Logger) async throws -> SQLiteWriter {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            let connection = try await SQLiteConnection.open(
                storage: .file(path: path),
                threadPool: thread,
                logger: logger,
                on: eventLoop
            )
            for pragma in ["PRAGMA foreign_keys = ON", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000"] {
                _ = try await connection.query(pragma)
            }
            return SQLiteWriter(connection: connection, thread: thread)
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    package func close() async {
        try? await connection.close()
        try? await thread.shutdownGracefully()
    }
}
