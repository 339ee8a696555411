import FluentPostgresDriver
import Vapor

/// Instances (and commands) started at the same moment migrate one at a time: on PostgreSQL
/// each first takes a transaction-scoped advisory lock on a connection of its own, in a
/// transaction held open while it migrates (a transaction pooler such as PgBouncer keeps a
/// transaction on one server connection, where a session lock could be taken on one and
/// released on another); on SQLite an exclusive `flock` on a file beside the database. The
/// others wait, then find nothing left to do.
enum MigrationLock {
    /// An arbitrary key, the same for every instance ("DevPortl").
    static let key: Int64 = 0x4465_7650_6f72_746c

    static func withLock(_ app: Application, _ body: () async throws -> Void) async throws {
        if case .sqliteFile(let path) = app.config.database { return try await withFileLock(path + ".lock", body) }
        guard case .postgres(let url) = app.config.database else { return try await body() }
        let connection = try await app.dedicatedPostgresConnection(url: url)
        do {
            _ = try await connection.query("BEGIN", logger: app.logger)
            _ = try await connection.query("SELECT pg_advisory_xact_lock(\(key))", logger: app.logger)
            try await body()
            _ = try await connection.query("COMMIT", logger: app.logger)
        } catch {
            // Closing the connection ends the transaction, which releases the lock.
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

extension MigrationLock {
    /// A lock file of its own, never the database file: closing any descriptor of the database
    /// would drop SQLite's own locks on it.
    private static func withFileLock(_ path: String, _ body: () async throws -> Void) async throws {
        let descriptor = open(path, O_RDWR | O_CREAT, 0o600)
        guard descriptor >= 0 else { throw LockFileError(path: path) }
        defer { close(descriptor) }  // closing releases the lock
        // flock blocks a thread; it runs once at start-up, before the server listens.
        guard flock(descriptor, LOCK_EX) == 0 else { throw LockFileError(path: path) }
        try await body()
    }
}

struct LockFileError: Error, CustomStringConvertible {
    let path: String
    var description: String { "Cannot lock \(path) to migrate the database: let the database's folder be written." }
}

extension Application {
    /// A PostgreSQL connection outside the pool, for a session of its own (the migration lock,
    /// the listener of device decisions).
    func dedicatedPostgresConnection(url: String) async throws -> PostgresConnection {
        // `useDatabase` has already checked the URL; this parse cannot fail with a new error.
        guard let configuration = try? SQLPostgresConfiguration(url: url).coreConfiguration else {
            throw ConfigurationError(
                variable: "DATABASE_URL",
                value: DatabaseURL.redacted(url),
                expected: "a valid PostgreSQL URL"
            )
        }
        return try await PostgresConnection.connect(
            on: eventLoopGroup.any(),
            configuration: configuration,
            id: 0,
            logger: logger
        )
    }
}
