import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import PortalDatabase
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
            do {
                // Fluent keeps a pool per event loop; each gets its share of the instance's size
                // (at least one).
                let loops = Array(eventLoopGroup.makeIterator()).count
                let perLoop = max(1, config.databasePoolSize / loops)
                databases.use(try .postgres(url: raw, maxConnectionsPerEventLoop: perLoop), as: .psql)
            } catch {
                // The driver's error quotes the whole URL, password included.
                throw ConfigurationError(
                    variable: "DATABASE_URL",
                    value: DatabaseURL.redacted(raw),
                    expected:
                        "a PostgreSQL URL the driver accepts (sslmode: disable, prefer, require, verify-ca or verify-full)"
                )
            }
        }
    }

    /// Server settings for SQLite: WAL lets readers run beside the writer, and with WAL
    /// `synchronous=NORMAL` is durable against crashes of the process. sqlite-nio retries a
    /// locked database in a busy loop that never sleeps nor gives up; `busy_timeout`
    /// replaces it with SQLite's own handler, which sleeps and fails after 5 s.
    func tuneSQLite() async throws {
        guard case .sqliteFile = config.database else { return }
        _ = try await db.sql.raw("PRAGMA journal_mode=WAL").all()
        // These are per connection: sqlite-kit keeps one connection per event loop.
        for eventLoop in eventLoopGroup.makeIterator() {
            guard let connection = databases.database(logger: logger, on: eventLoop)?.sql else { continue }
            _ = try await connection.raw("PRAGMA synchronous=NORMAL").all()
            _ = try await connection.raw("PRAGMA busy_timeout=5000").all()
        }
    }

    /// Applies pending migrations, or (with `AUTO_MIGRATE=false`) refuses to go on while
    /// any are pending, unless this run is `migrate` itself.
    func prepareDatabase(command: String?) async throws {
        if config.autoMigrate {
            try await MigrationLock.withLock(self) { try await autoMigrate() }
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
        "\(Wording.count(count, "database migration")) \(count == 1 ? "is" : "are") pending and AUTO_MIGRATE=false: run `portal migrate --yes` first."
    }
}

/// The database could not be reached or set up at start; says which one, never its password.
struct DatabaseStartupError: Error, CustomStringConvertible {
    let database: String
    let underlying: any Error
    var description: String {
        "Cannot use the database \(database): \(String(reflecting: underlying))"
    }
}

/// Runs before any command: sets the database up for it.
struct DatabasePreparation: LifecycleHandler {
    func willBootAsync(_ application: Application) async throws {
        let arguments = application.environment.arguments.dropFirst()
        // Asking for help must not create or migrate a database.
        guard !arguments.contains("--help"), !arguments.contains("-h") else { return }
        do {
            try await application.prepareDatabase(command: application.commandName)
            try await application.tuneSQLite()
            if case .sqliteFile(let path) = application.config.database {
                application.sqliteWriter = try await SQLiteWriter.open(
                    path: path,
                    on: application.eventLoopGroup.any(),
                    logger: application.logger
                )
                application.sqliteReader = SQLiteReader(path: path, logger: application.logger)
            }
        } catch let error as PendingMigrationsError {
            throw error
        } catch {
            throw DatabaseStartupError(database: application.config.database.redactedDescription, underlying: error)
        }
    }

    func shutdownAsync(_ application: Application) async {
        await application.sqliteWriter?.close()
        application.sqliteWriter = nil
        application.sqliteReader?.close()
        application.sqliteReader = nil
    }
}
