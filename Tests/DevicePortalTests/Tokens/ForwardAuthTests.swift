import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// `/auth/verify`: the guard's decision for a reverse proxy, with who the credential acts as in
/// `X-Portal-*` headers.
@Suite("Forward auth: /auth/verify")
struct ForwardAuthTests {
    private func verify(
        _ app: Application,
        _ method: HTTPMethod = .GET,
        query: String = "",
        headers: HTTPHeaders = [:]
    ) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(method, "/auth/verify" + query, headers: headers)
    }

    @Test("an API token: 200, empty, the identity in headers, not cached; any method a proxy uses")
    func apiToken() async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast(role: "viewer")
            let token = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            for method in ForwardAuthController.methods {
                let answer = try await verify(app, method, headers: ["Authorization": "Bearer \(token)"])  // MUT
                #expect(answer.status == .ok, "\(method)")
                #expect(answer.body.readableBytes == 0)
                #expect(answer.headers.first(name: "X-Portal-User-Id") == ada.id?.uuidString)
                #expect(answer.headers.first(name: "X-Portal-User-Email") == "ada@example.com")
                #expect(answer.headers.first(name: "X-Portal-Org-Id") == acme.id?.uuidString)
                #expect(answer.headers.first(name: "X-Portal-Org-Slug") == "acme")
                #expect(answer.headers.first(name: "X-Portal-Role") == "viewer")
                #expect(answer.headers.first(name: "X-Portal-Permissions") == "members:read,queries:read")
                #expect(answer.headers.first(name: "X-Portal-Credential") == "api_token")
                #expect(answer.headers.first(name: .cacheControl) == "no-store")
            }
        }
    }

    @Test("no credential, a bad one, a revoked one or a removed member's: the guard's own 401")
    func refusals() async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast()
            let missing = try await verify(app)  // MUT
            #expect(missing.status == .unauthorized)
            #expect(missing.headers.first(name: .wwwAuthenticate) == "Bearer")
            let bogus = try await verify(app, headers: ["Authorization": "Bearer \(String(repeating: "0", count: 64))"])
            #expect(bogus.status == .unauthorized)
            #expect(bogus.headers.first(name: .wwwAuthenticate)?.contains(#"error="invalid_token""#) == true)
            #expect(bogus.headers.first(name: "X-Portal-User-Id") == nil)

            let revoked = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            _ = try await app.testing().sendRequest(
                .POST,
                "/auth/token/revoke",
                headers: formHeaders,
                body: formBody([("token", revoked)])
            )
            #expect(try await verify(app, headers: ["Authorization": "Bearer \(revoked)"]).status == .unauthorized)

            let token = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            #expect(try await verify(app, headers: ["Authorization": "Bearer \(token)"]).status == .ok)
            try await Membership.query(on: app.db).filter(\.$user.$id == ada.requireID()).delete()
            #expect(try await verify(app, headers: ["Authorization": "Bearer \(token)"]).status == .unauthorized)
        }
    }

    @Test(
        "?permission= or X-Portal-Require-Permission needs that permission: 403 insufficient_scope; no such permission 400"
    )
    func permissions() async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast(role: "viewer")
            let bearer = "Bearer \(try await Fixtures(app: app).token(for: ada, in: acme, client: client))"
            #expect(
                try await verify(app, query: "?permission=queries:read", headers: ["Authorization": bearer]).status
                    == .ok
            )
            // MUT
            let refused = try await verify(app, query: "?permission=sql:run", headers: ["Authorization": bearer])
            #expect(refused.status == .forbidden)
            #expect(refused.headers.first(name: .wwwAuthenticate)?.contains("insufficient_scope") == true)
            let byHeader = try await verify(
                app,
                headers: ["Authorization": bearer, "X-Portal-Require-Permission": "members:manage"]
            )
            #expect(byHeader.status == .forbidden)
            let unknown = try await verify(app, query: "?permission=everything", headers: ["Authorization": bearer])
            #expect(unknown.status == .badRequest)
            #expect(try unknown.oauthError == "invalid_request")
        }
    }

    @Test("a session JWT is verified as a session")
    func sessionJWT() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/settings/devices")
            let jwt = try await browser.sessionJWT()
            let answer = try await verify(app, headers: ["Authorization": "Bearer \(jwt)"])  // MUT
            #expect(answer.status == .ok)
            #expect(answer.headers.first(name: "X-Portal-Credential") == "session")
        }
    }
}
