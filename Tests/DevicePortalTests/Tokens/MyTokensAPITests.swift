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
            let items = try #require(list.json["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(!list.text.contains(cast.tokens["member"]!))
            #expect((items[0]["client"] as? [String: Any])?["client_id"] as? String == "desktop")
            #expect((items[0]["organization"] as? [String: Any])?["slug"] as? String == "acme")
            #expect(items[0]["device_name"] as? String == "test machine")
            let id = try #require(items[0]["id"] as? String)
            let me = try await DesktopApp(app: app).me(cast.tokens["member"]!)
            #expect((me.json["auth"] as? [String: Any])?["token_id"] as? String == id)

            let others = try #require(
                try await cast.call(.GET, "/api/me/tokens", as: "viewer").json["items"] as? [[String: Any]])
            let othersID = try #require(others.first?["id"] as? String)
            #expect(try await cast.call(.DELETE, "/api/me/tokens/\(othersID)", as: "member").status == .notFound)
            let unknown = try await cast.call(.DELETE, "/api/me/tokens/\(UUID())", as: "member")
            #expect(unknown.status == .notFound)
            #expect(unknown.json["error_description"] as? String == "You have no token with that id.")
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
