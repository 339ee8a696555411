import Crypto
import Fluent
import Foundation
import JWTKit
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("POST /auth/introspect")
struct IntrospectionTests {
    private func introspect(
        _ app: Application,
        _ token: String,
        client: (String, String)?
    ) async throws
        -> TestingHTTPResponse
    {
        var headers = formHeaders
        if let (id, secret) = client {
            headers.basicAuthorization = BasicAuthorization(username: id, password: secret)
        }
        return try await app.testing().sendRequest(
            .POST,
            "/auth/introspect",
            headers: headers,
            body: formBody([("token", token)])
        )
    }

    private func confidentialClient(_ app: Application) async throws -> (String, String) {
        let output = try await runCommand(
            app,
            "create-client",
            ["--client-id", "warehouse", "--name", "Warehouse", "--confidential"]
        )
        return ("warehouse", try #require(output.firstMatch(of: /[0-9a-f]{64}/).map { String($0.0) }))
    }

    @Test("a live API token: active, with sub, org, role, permissions, exp and type")
    func apiToken() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, organization, client) = try await fixtures.standardCast(role: "viewer")
            let token = try await fixtures.token(for: user, in: organization, client: client)
            let response = try await introspect(app, token, client: try await confidentialClient(app))  // MUT
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .cacheControl) == "no-store")
            let answer = try response.decoded(as: IntrospectionController.Introspection.self)
            #expect(answer.active)
            #expect(answer.sub == user.id?.uuidString)
            #expect(answer.org == organization.id?.uuidString)
            #expect(answer.role == "viewer")
            #expect(answer.permissions == ["members:read", "queries:read"])
            #expect(answer.tokenType == "api_token")
            #expect((answer.exp ?? 0) > Int(Date().timeIntervalSince1970))
        }
    }

    @Test("a session JWT introspects as type session; anything else is just inactive")
    func sessionAndInactive() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let client = try await confidentialClient(app)
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")
            let jwt = try await browser.sessionJWT()
            let session = try await introspect(app, jwt, client: client)
                .decoded(as: IntrospectionController.Introspection.self)
            #expect(session.active)
            #expect(session.tokenType == "session")
            for credential in [String(repeating: "a", count: 64), "x.y.z", "nonsense"] {
                let response = try await introspect(app, credential, client: client)
                #expect(response.status == .ok)
                #expect(response.text == #"{"active":false}"#)
            }
        }
    }

    @Test("without a confidential client's right secret: 401 invalid_client")
    func clientAuthentication() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).client()  // a public client
            let (id, _) = try await confidentialClient(app)
            for client in [nil, (id, "wrong"), ("desktop", ""), ("nobody", "x")] as [(String, String)?] {
                let response = try await introspect(app, "anything", client: client)  // MUT
                #expect(response.status == .unauthorized)
                #expect(try response.oauthError == "invalid_client")
            }
        }
    }
}
