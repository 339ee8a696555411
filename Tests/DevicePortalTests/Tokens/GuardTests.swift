import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("The guard and GET /me")
struct GuardTests {
    @Test("/me reports user, org, current role with permissions, and the token's id")
    func me() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, organization, client) = try await fixtures.standardCast(role: "member")
            let token = try await fixtures.token(for: user, in: organization, client: client)
            let response = try await DesktopApp(app: app).me(token)  // MUT
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .cacheControl) == "no-store")
            let me = try response.decoded(as: MeController.Me.self)
            #expect(me.user.id == user.id)
            #expect(me.user.email == "ada@example.com")
            #expect(me.organization.id == organization.id)
            #expect(me.organization.slug == "acme")
            #expect(me.role.name == "member")
            #expect(me.role.permissions == ["members:read", "queries:read", "queries:run", "sql:run", "slack:post"])
            #expect(me.auth.type == "api_token")
            let stored = try #require(try await APIToken.query(on: app.db).first())
            #expect(me.auth.tokenID == stored.id)
            #expect(me.auth.tokenID?.uuidString != token)
            #expect(try Date(me.auth.expiresAt, strategy: .iso8601) > Date().addingTimeInterval(89 * 86_400))
        }
    }

    @Test("no credential: 401 with a bare Bearer challenge and a JSON body")
    func missing() async throws {
        try await withPortal { app in
            let response = try await app.testing().sendRequest(.GET, "/me")
            #expect(response.status == .unauthorized)
            #expect(response.headers.first(name: .wwwAuthenticate) == "Bearer")
            #expect(response.headers.contentType == .json)
            #expect(try !response.oauthErrorBody.errorDescription.isEmpty)
        }
    }

    @Test("malformed or unknown credentials: 401 invalid_token")
    func invalid() async throws {
        try await withPortal { app in
            let (user, organization, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: user, in: organization, client: client)
            let headers = [
                "Bearer", "Bearer ", "Basic \(token)", "Bearer abc", "Bearer \(token.uppercased())",
                "Bearer \(String(repeating: "0", count: 64))", "Bearer \(token)x", "Bearer \(token.dropLast())",
            ]
            for header in headers {
                // MUT
                let response = try await app.testing().sendRequest(.GET, "/me", headers: ["Authorization": header])
                #expect(response.status == .unauthorized, "\(header)")
                #expect(response.headers.first(name: .wwwAuthenticate) == #"Bearer error="invalid_token""#, "\(header)")
                #expect(try response.oauthError == "invalid_token", "\(header)")
            }
            let lowercaseScheme = try await app.testing().sendRequest(
                .GET,
                "/me",
                headers: ["Authorization": "bearer \(token)"]
            )
            #expect(lowercaseScheme.status == .ok)
        }
    }

    @Test("an expired token is refused")
    func expired() async throws {
        try await withPortal { app in
            let (user, organization, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: user, in: organization, client: client)
            let stored = try #require(try await APIToken.query(on: app.db).first())
            stored.expiresAt = Date().addingTimeInterval(-1)
            try await stored.save(on: app.db)
            let response = try await DesktopApp(app: app).me(token)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthError == "invalid_token")
        }
    }

    @Test("a role change counts on the very next request")
    func roleChange() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, organization, client) = try await fixtures.standardCast(role: "viewer")
            let token = try await fixtures.token(for: user, in: organization, client: client)
            let desktop = DesktopApp(app: app)
            #expect(try await desktop.me(token).decoded(as: MeController.Me.self).role.name == "viewer")

            let analyst = Role(
                name: "analyst",
                permissions: [.queriesRun, .auditRead],
                organizationID: organization.id
            )
            try await analyst.create(on: app.db)
            try await Fixtures(app: app).setRole(of: user, in: organization, to: analyst)  // MUT
            let role = try await desktop.me(token).decoded(as: MeController.Me.self).role
            #expect(role.name == "analyst")
            #expect(role.permissions == ["audit:read", "queries:run"])
        }
    }

    @Test("removal from the org kills the token at once, and adding back does not revive it")
    func removal() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, organization, client) = try await fixtures.standardCast()
            let owner = try await fixtures.user("boss@example.com")
            try await fixtures.member(owner, of: organization, as: "owner")
            let token = try await fixtures.token(for: user, in: organization, client: client)
            let desktop = DesktopApp(app: app)
            #expect(try await desktop.me(token).status == .ok)

            let revoked = try await Fixtures(app: app).remove(user, from: organization)  // MUT
            #expect(revoked == 1)
            #expect(try await desktop.me(token).status == .unauthorized)

            try await fixtures.member(user, of: organization, as: "member")
            #expect(try await desktop.me(token).status == .unauthorized)
        }
    }

    @Test("a membership deleted behind the portal's back is refused too: the join decides")
    func membershipGone() async throws {
        try await withPortal { app in
            let (user, organization, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: user, in: organization, client: client)
            try await Membership.query(on: app.db).delete()
            let response = try await DesktopApp(app: app).me(token)
            #expect(response.status == .unauthorized)
            #expect(try response.oauthErrorBody.errorDescription == APITokenLookup.Failure.notAMember.description)
        }
    }

    @Test("last use is recorded, at most once a minute")
    func lastUsed() async throws {
        try await withPortal { app in
            let (user, organization, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: user, in: organization, client: client)
            let desktop = DesktopApp(app: app)
            _ = try await desktop.me(token)
            let first = try #require(try await APIToken.query(on: app.db).first()?.lastUsedAt)
            _ = try await desktop.me(token)
            #expect(try await APIToken.query(on: app.db).first()?.lastUsedAt == first)

            let stored = try #require(try await APIToken.query(on: app.db).first())
            stored.lastUsedAt = first.addingTimeInterval(-61)
            try await stored.save(on: app.db)
            _ = try await desktop.me(token)
            let later = try #require(try await APIToken.query(on: app.db).first()?.lastUsedAt)
            #expect(later > first)
        }
    }

    @Test("permissions: a role lacking one gets 403 insufficient_scope")
    func insufficientScope() throws {
        let principal = Principal(
            user: UserDTO(id: UUID(), email: "a@b.c", name: "A"),
            organization: OrganizationDTO(id: UUID(), slug: "acme", name: "Acme"),
            roleName: "viewer",
            permissions: BuiltInRole.viewer.permissions,
            credential: .apiToken(id: UUID(), expiresAt: Date())
        )
        #expect(throws: Never.self) { try principal.require(.membersRead) }
        do {
            try principal.require(.membersManage)
            Issue.record("viewer must not manage members")
        } catch let error as JSONError {
            #expect(error.status == .forbidden)
            #expect(error.error == "insufficient_scope")
        }
    }
}
