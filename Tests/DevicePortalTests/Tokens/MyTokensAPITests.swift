import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("My tokens")
struct MyTokensAPITests {
    @Test("lists the caller's live tokens, never the token itself; revokes its own and nobody else's")
    func myTokens() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let list = try await cast.call(.GET, "/api/me/tokens", as: "member")  // MUT
            #expect(list.status == .ok)
            #expect(list.headers.first(name: .cacheControl) == "no-store")
            let items = try list.decoded(as: MyTokensController.Items.self).items
            #expect(items.count == 1)
            #expect(!list.text.contains(cast.tokens["member"]!))
            let mine = try #require(items.first)
            #expect(mine.client.clientID == "desktop")
            #expect(mine.organization.slug == "acme")
            #expect(mine.deviceName == "test machine")
            let id = mine.id
            let me = try await DesktopApp(app: app).me(cast.tokens["member"]!).decoded(as: MeController.Me.self)
            #expect(me.auth.tokenID == id)

            let others = try await cast.call(.GET, "/api/me/tokens", as: "viewer")
                .decoded(as: MyTokensController.Items.self).items
            let othersID = try #require(others.first?.id)
            #expect(try await cast.call(.DELETE, "/api/me/tokens/\(othersID)", as: "member").status == .notFound)
            let unknown = try await cast.call(.DELETE, "/api/me/tokens/\(UUID())", as: "member")
            #expect(unknown.status == .notFound)
            #expect(try unknown.oauthErrorBody.errorDescription == "You have no token with that id.")
            #expect(try await cast.call(.DELETE, "/api/me/tokens/junk", as: "member").status == .notFound)
            #expect(try await DesktopApp(app: app).me(cast.tokens["viewer"]!).status == .ok)

            #expect(try await cast.call(.DELETE, "/api/me/tokens/\(id)", as: "member").status == .noContent)
            #expect(try await DesktopApp(app: app).me(cast.tokens["member"]!).status == .unauthorized)
            let revoked = try await cast.auditEvents(.tokenRevoked)
            #expect(revoked.count == 1)
            #expect(revoked.first?.actor == "member@acme.example")
        }
    }
}
