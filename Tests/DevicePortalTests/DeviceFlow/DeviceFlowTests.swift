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
            #expect(try pending.oauthError == "authorization_pending")

            let browser = Browser(app: app)
            try await browser.signIn()
            let approved = try await browser.approve(code.userCode)
            #expect(approved.status == .ok)
            #expect(approved.text.contains("Device connected"))

            try await rewindPolls(app)
            let response = try await desktop.poll(code.deviceCode)  // MUT
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .cacheControl) == "no-store")
            let answer = try response.decoded(as: DeviceTokenController.TokenResponse.self)
            let token = answer.accessToken
            #expect(token.wholeMatch(of: /[0-9a-f]{64}/) != nil)
            #expect(try response.decoded(as: TokenType.self).tokenType == "Bearer")
            #expect(answer.expiresIn == 7_776_000)
            #expect(answer.user.id == user.id)
            #expect(answer.user.email == user.email)
            #expect(answer.organization.id == organization.id)
            #expect(answer.organization.slug == organization.slug)

            let me = try await desktop.me(token)
            #expect(me.status == .ok)
            #expect(try me.decoded(as: MeController.Me.self).role.name == "admin")

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
            let token = try await desktop.exchange(code.deviceCode).accessToken
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
            let token = try await desktop.exchange(code.deviceCode).accessToken
            let me = try await desktop.me(token).decoded(as: MeController.Me.self)
            #expect(me.organization.slug == "globex")
            #expect(me.role.name == "admin")
        }
    }
}

/// `token_type` as the wire carries it: `TokenResponse.tokenType` is a constant, which
/// `Decodable` leaves at its initial value instead of reading.
private struct TokenType: Decodable {
    let tokenType: String

    enum CodingKeys: String, CodingKey {
        case tokenType = "token_type"
    }
}
