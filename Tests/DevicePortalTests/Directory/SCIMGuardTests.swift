import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// `/scim/v2/` has a guard of its own: a directory token, and nothing else.
@Suite("SCIM's guard: the directory token")
struct SCIMGuardTests {
    @Test("no token, a malformed one, an unknown one, a revoked one, an API token: 401 in SCIM's shape")
    func refused() async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let apiToken = try await Fixtures(app: app).token(for: ada, in: acme, client: client)

            let none = try await app.testing().sendRequest(.GET, "/scim/v2/Users")  // MUT
            _ = try none.scimError(.unauthorized)
            #expect(none.headers.first(name: .wwwAuthenticate) == #"Bearer realm="SCIM""#)

            let revokedToken = try await DirectoryClient.of(acme, app)
            let id = try #require(
                try await DirectoryToken.query(on: app.db).filter(\.$tokenHash == OpaqueSecret.hash(revokedToken.token))
                    .first()?.id
            )
            try await DirectoryTokens.revoke(id, by: .commandLine(in: acme), on: app.db)

            for credential in [
                "Basic abc", "Bearer ", "Bearer \(apiToken)", "Bearer scim_" + String(repeating: "a", count: 43),
                "Bearer \(revokedToken.token)", "Bearer \(directory.token)x",
            ] {
                let response = try await app.testing().sendRequest(
                    .GET,
                    "/scim/v2/Users",
                    headers: ["Authorization": credential]
                )
                _ = try response.scimError(.unauthorized)
                #expect(
                    response.headers.first(name: .wwwAuthenticate) == #"Bearer realm="SCIM", error="invalid_token""#,
                    "\(credential)"
                )
            }
            let works = try await directory.call(.GET, "/Users")
            #expect(works.status == .ok)
        }
    }

    @Test("a directory token is no credential of the API: /me and /api answer 401")
    func notAnAPICredential() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            for path in ["/me", "/api/orgs/acme/members", "/api/orgs/acme/scim-tokens"] {
                let response = try await app.testing().sendRequest(
                    .GET,
                    path,
                    headers: ["Authorization": "Bearer \(directory.token)"]
                )  // MUT
                #expect(response.status == .unauthorized, "\(path)")
                #expect(try response.oauthError == "invalid_token")
            }
        }
    }

    @Test("another organization's token sees none of this one's Users and changes nothing")
    func anotherOrganization() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, _) = try await fixtures.standardCast(role: "owner")
            let globex = try await fixtures.organization("globex", name: "Globex")
            let theirs = try await DirectoryClient.of(globex, app)
            let ours = try await DirectoryClient.of(acme, app)
            let grace = try await ours.create("grace@example.com").scimUser()
            let adaID = try ada.requireID().uuidString

            for id in [adaID, grace.id] {
                _ = try await theirs.call(.GET, "/Users/\(id)").scimError(.notFound)  // MUT
                _ = try await theirs.patch(id, #"{"op": "replace", "value": {"active": false}}"#).scimError(.notFound)
                _ = try await theirs.call(
                    .PUT,
                    "/Users/\(id)",
                    json: #"{"userName": "x@example.com", "active": false}"#
                ).scimError(.notFound)
                _ = try await theirs.call(.DELETE, "/Users/\(id)").scimError(.notFound)
            }
            let list = try await theirs.call(.GET, "/Users").scimList()
            #expect(list.totalResults == 0)
            let filtered = try await theirs.call(.GET, "/Users?filter=userName%20eq%20%22ada@example.com%22").scimList()
            #expect(filtered.totalResults == 0)
            #expect(try await Membership.query(on: app.db).filter(\.$organization.$id == acme.requireID()).count() == 2)
            #expect(try await ours.call(.GET, "/Users/\(grace.id)").scimUser().active)
        }
    }

    @Test("the router's 404 and 405 under /scim/v2/ are SCIM errors too")
    func routerErrors() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            _ = try await directory.call(.GET, "/Groups").scimError(.notFound)  // MUT
            _ = try await directory.call(.DELETE, "/ServiceProviderConfig").scimError(.methodNotAllowed)
            _ = try await directory.call(.POST, "/.search", json: "{}").scimError(.notImplemented)
        }
    }
}
