import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import Vapor

extension Application {
    /// Connects Fluent to the configured database.
    func useDatabase(_ url: DatabaseURL) throws {
        switch url {
        case .sqliteMemory:
            databases.use(.sqlite(.memory), as: .sqlite)
        case .sqliteFile(let path):
            databases.use(.sqlite(.file(path)), as: .sqlite)
        case .postgres(let raw):
            databases.use(try .postgres(url: raw), as: .psql)
        }
    }

    /// Server settings for SQLite: WAL lets readers run beside the writer, and with WAL
    /// `synchronous=NORMAL` is durable against crashes of the process.
    func tuneSQLite() async throws {
        guard case .sqliteFile = config.database else { return }
        _ = try await db.sql.raw("PRAGMA journal_mode=WAL").all()
        // synchronous is per connection: there is one connection per event loop.
        for eventLoop in eventLoopGroup.makeIterator() {
            _ = try await databases.database(logger: logger, on: eventLoop)?.sql.raw("PRAGMA synchronous=NORMAL").all()
        }
    }

    /// Applies pending migrations, or (with `AUTO_MIGRATE=false`) refuses to go on while
    /// any are pending, unless this run is `migrate` itself.
    func prepareDatabase(command: String?) async throws {
        if config.autoMigrate {
            try await autoMigrate()
            return
        }
        guard command != "migrate" else { return }
        try await migrator.setupIfNeeded().get()
        let pending = try await migrator.previewPrepareBatch().get()
        guard pending.isEmpty else {
            throw PendingMigrationsError(count: pending.count)
        }
    }
}

struct PendingMigrationsError: Error, CustomStringConvertible {
    let count: Int
    var description: String {
        "\(count) database migration(s) are pending and AUTO_MIGRATE=false: run `portal migrate --yes` first."
    }
}

/// Runs before any command: sets the database up for it.
struct DatabasePreparation: LifecycleHandler {
    func willBootAsync(_ application: Application) async throws {
        let command = application.environment.arguments.dropFirst().first
        try await application.prepareDatabase(command: command)
        try await application.tuneSQLite()
    }
}
