import DevicePortalClient
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// The client library against a real portal over TCP, approvals made through the web forms.
@Suite("Client: the device flow against a running portal")
struct ClientFlowTests {
    @Test("sign-in through the real web forms: the token arrives, /me knows it, signing out kills it")
    func fullFlow() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 1 }) { app, server in
            try await Fixtures(app: app).standardCast(role: "admin")
            let client = PortalClient(server: server, clientID: "desktop")
            let metadata = try await client.metadata()
            #expect(metadata.tokenEndpoint.absoluteString == server.absoluteString + "/auth/device/token")

            let signIn = try await client.startSignIn(deviceName: "ada-laptop")
            #expect(signIn.userCode.wholeMatch(of: /[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}/) != nil)
            #expect(signIn.verificationURI.absoluteString == server.absoluteString + "/auth/device")
            #expect(signIn.verificationURIComplete?.absoluteString.hasSuffix("?user_code=\(signIn.userCode)") == true)
            #expect(signIn.interval == 1)

            let events = Recorder<PollEvent>()
            let waiting = Task { try await client.waitForToken(signIn) { events.append($0) } }
            try await eventually(timeout: .seconds(30), "a held poll") { app.heldPolls.count == 1 }
            let browser = Browser(app: app)
            try await browser.signIn()
            let page = try await browser.approve(signIn.userCode)
            #expect(page.text.contains("Device connected"))

            let signedIn = try await waiting.value  // MUT
            #expect(signedIn.token.value.wholeMatch(of: /[0-9a-f]{64}/) != nil)
            #expect(signedIn.user.email == "ada@example.com")
            #expect(signedIn.organization.slug == "acme")
            // The portal itself found no poll early.
            #expect(events.values.allSatisfy { $0 == .pending(next: .seconds(1)) })

            let me = try await client.me(signedIn.token)
            #expect(me.user.email == "ada@example.com")
            #expect(me.role.name == "admin")
            #expect(me.credentialType == "api_token")
            #expect(me.expiresAt != nil)
            let stored = try #require(try await APIToken.query(on: app.db).first())
            #expect(stored.deviceName == "ada-laptop")

            try await client.signOut(signedIn.token)
            await #expect(throws: PortalClientError.invalidToken) { try await client.me(signedIn.token) }
            // Revocation is idempotent (RFC 7009): signing out again still succeeds.
            try await client.signOut(signedIn.token)
        }
    }

    @Test("a sign-in denied in the browser ends the wait with .accessDenied")
    func denied() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 1 }) { app, server in
            try await Fixtures(app: app).standardCast()
            let client = PortalClient(server: server, clientID: "desktop")
            let signIn = try await client.startSignIn()
            let browser = Browser(app: app)
            try await browser.signIn()
            #expect(try await browser.approve(signIn.userCode, action: "deny").text.contains("Device denied"))
            await #expect(throws: PortalClientError.accessDenied) {
                try await client.waitForToken(signIn)  // MUT
            }
        }
    }

    @Test("a code nobody approves ends the wait with .expired at expires_in")
    func expired() async throws {
        try await withRunningPortal({
            $0.devicePollInterval = 1
            $0.deviceCodeTTL = 2
        }) { app, server in
            try await Fixtures(app: app).standardCast()
            let client = PortalClient(server: server, clientID: "desktop")
            let signIn = try await client.startSignIn()
            #expect(signIn.expiresIn == 2)
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: PortalClientError.expired) {
                try await client.waitForToken(signIn)  // MUT
            }
            #expect(clock.now - started < .seconds(3))
        }
    }

    @Test("an unknown client id, or a confidential client's, fails the start with .invalidClient")
    func unknownClient() async throws {
        try await withRunningPortal { app, server in
            try await Fixtures(app: app).client("service", confidential: true)
            for clientID in ["nobody", "service"] {
                await #expect {
                    try await PortalClient(server: server, clientID: clientID).startSignIn()  // MUT
                } throws: { error in
                    guard case PortalClientError.invalidClient = error else { return false }
                    return true
                }
            }
        }
    }
}
