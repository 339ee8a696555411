import FluentPostgresDriver
import Foundation
import VaporTesting

@testable import DevicePortal

/// One test's own database, so tests can run in parallel: a temporary SQLite file, or a
/// database created on the PostgreSQL server that `DATABASE_URL` names.
struct TestDatabase {
    let url: DatabaseURL
    let drop: () async throws -> Void

    static func create() async throws -> TestDatabase {
        guard let raw = ProcessInfo.processInfo.environment["DATABASE_URL"], raw.hasPrefix("postgres") else {
            let file = NSTemporaryDirectory() + "portal-test-\(UUID().uuidString).sqlite"
            return TestDatabase(url: .sqliteFile(file)) {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
            }
        }
        // Each test's portal holds a few connections; enough tests at once would exhaust the server's.
        await slots.acquire()
        let name = "portal_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        do {
            try await onServer(raw, "CREATE DATABASE \(name)")
        } catch {
            await slots.release()
            throw error
        }
        guard var components = URLComponents(string: raw) else { throw TestFailure("bad DATABASE_URL") }
        components.path = "/" + name
        return TestDatabase(url: .postgres(components.string ?? raw)) {
            defer { Task { await slots.release() } }
            try await onServer(raw, "DROP DATABASE \(name) WITH (FORCE)")
        }
    }

    private static let slots = Slots(count: 12)

    /// Runs one statement on the server's maintenance database.
    private static func onServer(_ url: String, _ statement: String) async throws {
        let admin = try await Application.make(.testing)
        admin.logger.logLevel = .warning
        do {
            admin.databases.use(try .postgres(url: url), as: .psql)
            try await (admin.db as! any SQLDatabase).raw(SQLQueryString(statement)).run()
        } catch {
            try? await admin.asyncShutdown()
            throw error
        }
        try await admin.asyncShutdown()
    }
}

/// A counting semaphore for async code.
actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
