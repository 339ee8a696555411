import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// A credential acts in its own organization only: the "my tokens" API shows and ends the
/// person's tokens of that organization, while the signed-in devices page covers them all.
@Suite("/api/me/tokens stays in the credential's organization")
struct MyTokensOrganizationScopeTests {
    struct Cast {
        let acmeToken: String
        let globexToken: String
        let acmeTokenID: UUID
        let globexTokenID: UUID
    }

    /// Ada, a viewer in globex and a member of acme, with one token in each.
    private func cast(_ app: Application) async throws -> Cast {
        let fixtures = Fixtures(app: app)
        let (ada, acme, client) = try await fixtures.standardCast()
        let globex = try await fixtures.organization("globex", name: "Globex")
        try await fixtures.member(ada, of: globex, as: "viewer")
        let acmeToken = try await fixtures.token(for: ada, in: acme, client: client)
        let globexToken = try await fixtures.token(for: ada, in: globex, client: client)
        let ids = { (organization: Organization) async throws -> UUID in
            try #require(
                try await APIToken.query(on: app.db).filter(\.$organization.$id == organization.requireID()).first()?
                    .id
            )
        }
        return Cast(
            acmeToken: acmeToken,
            globexToken: globexToken,
            acmeTokenID: try await ids(acme),
            globexTokenID: try await ids(globex)
        )
    }

    @Test("the list with a token of one org holds only that org's tokens")
    func listIsScoped() async throws {
        try await withPortal { app in
            let cast = try await cast(app)
            let listed = try await app.testing().sendRequest(  // MUT
                .GET,
                "/api/me/tokens",
                headers: ["Authorization": "Bearer \(cast.globexToken)"]
            )
            #expect(listed.status == .ok)
            let items = try listed.content.decode(MyTokensController.Items.self).items
            #expect(items.map(\.id) == [cast.globexTokenID])
            #expect(items.map(\.organization.slug) == ["globex"])
        }
    }

    @Test("deleting another org's token id is 404 and leaves it working")
    func deleteIsScoped() async throws {
        try await withPortal { app in
            let cast = try await cast(app)
            let deleted = try await app.testing().sendRequest(  // MUT
                .DELETE,
                "/api/me/tokens/\(cast.acmeTokenID)",
                headers: ["Authorization": "Bearer \(cast.globexToken)"]
            )
            #expect(deleted.status == .notFound)
            #expect(try deleted.oauthError == "not_found")
            #expect(try await DesktopApp(app: app).me(cast.acmeToken).status == .ok)
            let own = try await app.testing().sendRequest(
                .DELETE,
                "/api/me/tokens/\(cast.globexTokenID)",
                headers: ["Authorization": "Bearer \(cast.globexToken)"]
            )
            #expect(own.status == .noContent)
        }
    }

    @Test("the devices page of the signed-in person still lists and revokes every org's tokens")
    func devicesPageCoversEveryOrganization() async throws {
        try await withPortal { app in
            let cast = try await cast(app)
            let browser = Browser(app: app)
            try await browser.signIn()
            let page = try await browser.get("/settings/devices")
            #expect(page.text.contains("Acme") && page.text.contains("Globex"))
            let revoked = try await browser.post("/settings/devices/\(cast.acmeTokenID)/revoke", [])  // MUT
            #expect(revoked.status == .seeOther)
            #expect(try await DesktopApp(app: app).me(cast.acmeToken).status == .unauthorized)
        }
    }
}
