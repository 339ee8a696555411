import FluentPostgresDriver
import Vapor

/// Instances started at the same moment migrate one at a time: on PostgreSQL each first
/// takes a session advisory lock on a connection of its own, held while it migrates; the
/// others wait for it and then find nothing left to do. SQLite needs no lock: it has one writer.
enum MigrationLock {
    /// An arbitrary key, the same for every instance ("DevPortl").
    static let key: Int64 = 0x4465_7650_6f72_746c

    static func withLock(_ app: Application, _ body: () async throws -> Void) async throws {
        guard case .postgres(let url) = app.config.database else { return try await body() }
        let configuration = try SQLPostgresConfiguration(url: url).coreConfiguration
        let connection = try await PostgresConnection.connect(
            on: app.eventLoopGroup.any(), configuration: configuration, id: 0, logger: app.logger)
        do {
            _ = try await connection.query("SELECT pg_advisory_lock(\(key))", logger: app.logger)
            try await body()
        } catch {
            try? await connection.close()
            throw error
        }
        // Closing the session releases the lock.
        try await connection.close()
    }
}
