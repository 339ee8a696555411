import Fluent
import SQLKit
import Vapor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `portal backup --to FILE`: a consistent copy of the SQLite database, taken while servers
/// write. `VACUUM INTO` runs in one read transaction on the portal's own connection, so the copy
/// is the database as of one moment, WAL included, and writers are never blocked (in WAL mode
/// readers do not block them). An existing file is never overwritten.
struct BackupCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "to", help: "The file to write; it must not exist yet.")
        var to: String?
        init() {}
    }

    var help: String { "Copies the SQLite database to a new file while servers run (PostgreSQL: use pg_dump)." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        let source = try Self.sqliteFile(of: app.config.database)
        let target = Self.absolute(try signature.to.required("to"))
        let started = Date()
        try Self.createEmpty(target)
        do {
            // SQLite accepts an empty file as the target of VACUUM INTO, and the exclusive
            // creation above means nothing else can be there.
            try await app.db.sql.raw("VACUUM INTO \(bind: target)").run()
            try Self.sync(target)
        } catch {
            unlink(target)  // ours: created above, empty or partly written
            throw CommandFailure("Cannot back up to \(target): \(String(reflecting: error))")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
        // `configure` fills in the secret it read from portal.secret: ask the environment which it was.
        let secret =
            Environment.get(PortalConfig.Setting.portalSecret.name)?.isEmpty == false
            ? PortalConfig.Setting.portalSecret.name
            : URL(fileURLWithPath: source).deletingLastPathComponent().appendingPathComponent("portal.secret").path
        context.console.print(
            """
            Backed up sqlite://\(source) to \(target): \(size) bytes, the database as of \
            \(ISO8601DateFormatter().string(from: started)), in \
            \(String(format: "%.2f", Date().timeIntervalSince(started))) s.
            A restore needs the portal's secret too: keep \(secret) safe, and not beside the backups.
            """
        )
    }

    /// The SQLite file to copy, or a refusal that says what to do instead.
    static func sqliteFile(of database: DatabaseURL) throws -> String {
        switch database {
        case .sqliteFile(let path):
            return absolute(path)
        case .sqliteMemory:
            throw CommandFailure("DATABASE_URL is sqlite://:memory:, which keeps nothing to back up.")
        case .postgres:
            throw CommandFailure(
                "portal backup copies a SQLite database; this portal uses PostgreSQL: back it up with pg_dump "
                    + "(e.g. pg_dump --format=custom --file=portal.dump \"$DATABASE_URL\") or your provider's snapshots."
            )
        }
    }

    /// Creates `path` empty, readable by its owner only (it holds password and token hashes),
    /// failing if anything is there already.
    private static func createEmpty(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST {
                throw CommandFailure(
                    "\(path) already exists: portal backup never overwrites a file. Choose a new name, or move it away first."
                )
            }
            throw CommandFailure("Cannot create \(path): \(String(cString: strerror(errno))).")
        }
        close(descriptor)
    }

    /// Flushes the copy, then its folder's entry, to disk: a backup must survive a power cut.
    /// (Some file systems cannot sync a folder; the copy itself is what must be on disk.)
    private static func sync(_ path: String) throws {
        let file = open(path, O_RDONLY)
        guard file >= 0 else { throw CommandFailure("Cannot open \(path) to flush it.") }
        defer { close(file) }
        guard fsync(file) == 0 else { throw CommandFailure("Cannot flush \(path) to disk.") }
        let folder = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY)
        if folder >= 0 {
            _ = fsync(folder)
            close(folder)
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
