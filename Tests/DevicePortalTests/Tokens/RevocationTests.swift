import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("POST /auth/token/revoke")
struct RevocationTests {
    private func revoke(_ app: Application, _ fields: [(String, String)]) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(.POST, "/auth/token/revoke", headers: formHeaders, body: formBody(fields))
    }

    @Test("revokes the token: 200, and the next request with it is 401")
    func revokes() async throws {
        try await withPortal { app in
            let (user, organization, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: user, in: organization, client: client)
            let response = try await revoke(app, [("token", token), ("token_type_hint", "access_token")])  // MUT
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .cacheControl) == "no-store")
            #expect(try await DesktopApp(app: app).me(token).status == .unauthorized)
            let stored = try #require(try await APIToken.query(on: app.db).first())
            #expect(stored.revokedReason == .signOut)
            #expect(stored.revokedAt != nil)
        }
    }

    @Test("unknown tokens get 200 too; a missing token is invalid_request")
    func unknownAndMissing() async throws {
        try await withPortal { app in
            #expect(try await revoke(app, [("token", String(repeating: "a", count: 64))]).status == .ok)
            #expect(try await revoke(app, [("token", "not-a-token")]).status == .ok)
            let missing = try await revoke(app, [])
            #expect(missing.status == .badRequest)
            #expect(try missing.oauthError == "invalid_request")
        }
    }
}
