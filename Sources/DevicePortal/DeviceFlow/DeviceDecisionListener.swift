import FluentPostgresDriver
import NIOConcurrencyHelpers
import Vapor

/// Wakes this instance's held polls when another instance decides their code: on PostgreSQL one
/// connection of its own `LISTEN`s to `DeviceDecisions.channel`, and is opened again (and every
/// held code re-checked) whenever it is lost, so that a database restart loses no wake-up.
/// Besides, while polls are held, their codes are re-checked every `sweep` in one query: that
/// catches a notification lost anyway, and is all there is behind a transaction pooler, where
/// `LISTEN` cannot work (there, with `DATABASE_PREPARED_STATEMENTS=false`, nothing listens).
final class DeviceDecisionListener: LifecycleHandler, Sendable {
    static let sweep: Duration = .seconds(2)
    static let reconnectDelay: Duration = .seconds(1)
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])

    func didBootAsync(_ application: Application) async throws {
        var started = [Task { await Self.sweepHeldCodes(application) }]
        if case .postgres(let url) = application.config.database, application.config.databasePreparedStatements {
            started.append(Task { await Self.listen(application, url: url) })
        }
        tasks.withLockedValue { $0 = started }
    }

    func shutdownAsync(_ application: Application) async {
        let running = tasks.withLockedValue { tasks in
            defer { tasks = [] }
            return tasks
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    private static func listen(_ app: Application, url: String) async {
        var lost = false
        while !Task.isCancelled {
            do {
                let connection = try await app.dedicatedPostgresConnection(url: url)
                do {
                    try await connection.listen(on: DeviceDecisions.channel) { notifications in
                        if lost { app.logger.notice("device decisions: listening again") }
                        lost = false
                        // Decisions made while nothing listened.
                        try await recheck(app.heldPolls.keys, app: app)
                        for try await notification in notifications { app.heldPolls.wake(notification.payload) }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if !lost, !Task.isCancelled {
                    app.logger.warning("device decisions: not listening, retrying: \(String(reflecting: error))")
                }
                lost = true
            }
            try? await Task.sleep(for: reconnectDelay)
        }
    }

    private static func sweepHeldCodes(_ app: Application) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: sweep)
            let keys = app.heldPolls.keys
            guard !keys.isEmpty else { continue }
            try? await recheck(keys, app: app)
        }
    }

    /// Wakes the held polls whose code is no longer pending (decided, or gone).
    private static func recheck(_ keys: [String], app: Application) async throws {
        for start in stride(from: 0, to: keys.count, by: 500) {
            let chunk = Array(keys[start..<min(start + 500, keys.count)])
            let stillPending = try await app.db.sql.select().column("device_code_hash")
                .from(DeviceAuthorization.schema)
                .where("device_code_hash", .in, chunk)
                .where("status", .equal, DeviceAuthorization.Status.pending.rawValue)
                .all()
                .map { try $0.decode(column: "device_code_hash", as: String.self) }
            for key in Set(chunk).subtracting(stillPending) { app.heldPolls.wake(key) }
        }
    }
}
