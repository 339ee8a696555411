import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal
@testable import PortalDatabase

@Suite("The guard's SQLite reader")
struct SQLiteReaderTests {
    /// Ada (admin) with an API token and a session JWT.
    private func credentials(_ app: Application) async throws -> (token: String, jwt: String) {
        let fixtures = Fixtures(app: app)
        let (user, organization, client) = try await fixtures.standardCast(role: "admin")
        let token = try await fixtures.token(for: user, in: organization, client: client)
        let browser = Browser(app: app)
        try await browser.signIn()
        try await browser.get("/auth/device")
        let response = try await browser.postFromScript("/auth/session/token")
        return (token, try response.decoded(as: SessionTokenController.SessionToken.self).token)
    }

    @Test("each guard statement is prepared once and never again, whatever its values")
    func preparedOnce() async throws {
        try await withPortal { app in
            guard let reader = app.sqliteReader else {
                // PostgreSQL: the guard's statements are PostgresNIO's prepared statements instead.
                guard case .postgres = app.config.database else { throw TestFailure("a SQLite file has a reader") }
                return
            }
            let (token, jwt) = try await credentials(app)
            let unknown = String(repeating: "0", count: 64)
            for credential in [token, jwt, unknown, token, jwt, unknown, token] {
                _ = try await DesktopApp(app: app).me(credential)  // MUT
            }
            #expect(try await DesktopApp(app: app).me(token).status == .ok)
            #expect(try await DesktopApp(app: app).me(jwt).status == .ok)
            #expect(try await DesktopApp(app: app).me(unknown).status == .unauthorized)
            // One request at a time: one connection, the token's and the session's statements.
            #expect(reader.statistics == .init(connections: 1, prepared: 2, reprepared: 0))
        }
    }

    @Test("the guard's statements find every row through an index")
    func indexed() async throws {
        try await withPortal { app in
            guard case .sqliteFile = app.config.database else {
                // PostgreSQL has no reader: its guard statements are prepared statements there.
                #expect(app.sqliteReader == nil)
                return
            }
            for statement in [APITokenLookup.Statement.onSQLite, SessionLookup.Statement.onSQLite] {
                let plan = try await app.db.sql.raw("EXPLAIN QUERY PLAN \(unsafeRaw: statement.sql)").all()
                    .map { try $0.decode(column: "detail", as: String.self) }
                #expect(plan.count == 5)
                #expect(plan.allSatisfy { $0.hasPrefix("SEARCH") && $0.contains("USING") }, "\(plan)")
            }
        }
    }

    @Test("when the reader cannot read, the guard reads through sqlite-kit with the same answers")
    func fallback() async throws {
        try await withPortal { app in
            guard case .sqliteFile = app.config.database else {
                // PostgreSQL has no reader: its guard statements are prepared statements there.
                #expect(app.sqliteReader == nil)
                return
            }
            let (token, jwt) = try await credentials(app)
            let desktop = DesktopApp(app: app)
            let before = [try await desktop.me(token).text, try await desktop.me(jwt).text]
            app.sqliteReader?.close()
            let broken = SQLiteReader(path: "/nonexistent/portal.sqlite", logger: app.logger)
            app.sqliteReader = broken  // MUT: every read fails
            #expect([try await desktop.me(token).text, try await desktop.me(jwt).text] == before)
            #expect(broken.statistics == .init())
            // It rests after the failure: the next read fails at once, without trying SQLite.
            #expect(throws: SQLiteReader.Failure.resting) {
                try broken.read(APITokenLookup.Statement.onSQLite, [.text(token)])
            }
            let stored = try #require(try await APIToken.query(on: app.db).first())
            stored.revokedAt = Date()
            try await stored.save(on: app.db)
            #expect(try await desktop.me(token).status == .unauthorized)
        }
    }

    /// PostgresNIO remembers a statement per connection, SQLite per reader connection: a failed
    /// preparation must not stick to either.
    @Test("a guard statement that fails to prepare leaves no broken connection behind")
    func failedPreparation() async throws {
        try await withPortal { app in
            let (token, jwt) = try await credentials(app)
            let desktop = DesktopApp(app: app)
            try await app.db.sql.raw("ALTER TABLE roles RENAME TO roles_away").run()
            // Every connection that tries now fails to prepare (or re-prepare) the statements.
            for _ in 0..<4 {
                #expect(try await desktop.me(token).status == .internalServerError)
                #expect(try await desktop.me(jwt).status == .internalServerError)
            }
            try await app.db.sql.raw("ALTER TABLE roles_away RENAME TO roles").run()
            for _ in 0..<6 {
                #expect(try await desktop.me(token).status == .ok)  // MUT
                #expect(try await desktop.me(jwt).status == .ok)
            }
        }
    }
}
