import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Device flow, end to end")
struct DeviceFlowTests {
    @Test("a desktop app gets a 64-hex token that acts as the approver in the chosen org")
    func fullFlow() async throws {
        try await withPortal { app in
            let (user, organization, _) = try await Fixtures(app: app).standardCast(role: "admin")
            let desktop = DesktopApp(app: app)
            let code = try await desktop.requestCode()

            let pending = try await desktop.poll(code.deviceCode)
            #expect(pending.status == .badRequest)
            #expect(pending.json["error"] as? String == "authorization_pending")

            let browser = Browser(app: app)
            try await browser.signIn()
            let approved = try await browser.approve(code.userCode)
            #expect(approved.status == .ok)
            #expect(approved.text.contains("Device connected"))

            try await rewindPolls(app)
            let response = try await desktop.poll(code.deviceCode)  // MUT
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .cacheControl) == "no-store")
            let token = try #require(response.json["access_token"] as? String)
            #expect(token.wholeMatch(of: /[0-9a-f]{64}/) != nil)
            #expect(response.json["token_type"] as? String == "Bearer")
            #expect(response.json["expires_in"] as? Int == 7_776_000)
            #expect((response.json["user"] as? [String: Any])?["email"] as? String == user.email)
            #expect((response.json["organization"] as? [String: Any])?["slug"] as? String == organization.slug)

            let me = try await desktop.me(token)
            #expect(me.status == .ok)
            #expect((me.json["role"] as? [String: Any])?["name"] as? String == "admin")

            let stored = try #require(try await APIToken.query(on: app.db).first())
            #expect(stored.deviceName == "ada-laptop")
            #expect(stored.$user.id == user.id)
            #expect(stored.$organization.id == organization.id)
        }
    }

    @Test("neither the token nor the device code is ever written to the database")
    func noRawSecretsStored() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.requestCode()
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.approve(code.userCode)
            let token = try #require(try await desktop.poll(code.deviceCode).json["access_token"] as? String)
            let sessionCookie = try #require(browser.cookies[SessionCookie.name])

            let contents = try await databaseContents(app)
            #expect(contents.range(of: Data(OpaqueSecret.hash(token).utf8)) != nil, "the token's hash is stored")
            for secret in [token, code.deviceCode, sessionCookie] {
                #expect(contents.range(of: Data(secret.utf8)) == nil, "a raw secret is in the database")
            }
        }
    }

    @Test("the approval counts for the org picked, and the token never acts in another")
    func tokenBoundToPickedOrg() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, _, _) = try await fixtures.standardCast(role: "viewer")
            let other = try await fixtures.organization("globex", name: "Globex")
            try await fixtures.member(user, of: other, as: "admin")
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode(org: "globex")
            let token = try #require(try await desktop.poll(code.deviceCode).json["access_token"] as? String)
            let me = try await desktop.me(token)
            #expect((me.json["organization"] as? [String: Any])?["slug"] as? String == "globex")
            #expect((me.json["role"] as? [String: Any])?["name"] as? String == "admin")
        }
    }
}
