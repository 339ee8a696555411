import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// `DATABASE_PREPARED_STATEMENTS` and `?prepared_statements=`: behind a transaction pooler the
/// hot paths run unnamed statements, and still answer as before.
@Suite("PostgreSQL prepared statements: on by default, off for a transaction pooler")
struct PreparedStatementsSettingTests {
    static let url = "postgres://portal@db.internal:6432/portal"

    @Test(
        "the setting comes from the URL's query or the variable; the URL wins and loses its option",
        arguments: [
            ([:], url, true, url),
            (["DATABASE_PREPARED_STATEMENTS": "false"], url, false, url),
            ([:], url + "?prepared_statements=false", false, url),
            ([:], url + "?sslmode=require&prepared_statements=false", false, url + "?sslmode=require"),
            (["DATABASE_PREPARED_STATEMENTS": "false"], url + "?prepared_statements=true", true, url),
        ]
    )
    func parsing(_ extra: [String: String], _ databaseURL: String, _ prepared: Bool, _ driverURL: String) throws {
        let env = extra.merging(["DATABASE_URL": databaseURL, "PORTAL_SECRET": String(repeating: "ab", count: 32)]) {
            $1
        }
        let config = try PortalConfig.fromEnvironment { env[$0] }  // MUT
        #expect(config.databasePreparedStatements == prepared)
        #expect(config.database == .postgres(driverURL))
    }

    @Test(
        "a value other than true or false names the variable",
        arguments: [
            ["DATABASE_URL": url + "?prepared_statements=maybe"], ["DATABASE_PREPARED_STATEMENTS": "sometimes"],
        ]
    )
    func badValues(_ env: [String: String]) {
        let env = env.merging(["PORTAL_SECRET": String(repeating: "ab", count: 32), "DATABASE_URL": Self.url]) { a, _ in
            a
        }
        #expect(throws: ConfigurationError.self) { try PortalConfig.fromEnvironment { env[$0] } }  // MUT
    }

    @Test("with unnamed statements the guard and the poll answer as with prepared ones")
    func unnamedStatements() async throws {
        try await withPortal({ $0.databasePreparedStatements = false }) { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            let desktop = DesktopApp(app: app)
            for _ in 0..<20 { #expect(try await desktop.me(token).status == .ok) }  // MUT
            let code = try await desktop.decidedCode()
            let poll = try await desktop.poll(code.deviceCode)
            #expect(poll.status == .ok)
            #expect(try poll.decoded(as: DeviceTokenController.TokenResponse.self).accessToken.count == 64)
        }
    }
}
