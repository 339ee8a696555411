import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Sign-in with the company's OpenID Connect provider")
struct OIDCSignInTests {
    private func withProvider(
        autoCreate: Bool = true,
        passwords: Bool = true,
        _ test: (Application, FakeIdentityProvider) async throws -> Void
    ) async throws {
        try await withPortal({
            $0.oidc = OIDCSettings(
                issuer: FakeIdentityProvider.issuer,
                clientID: FakeIdentityProvider.clientID,
                clientSecret: "portal-secret",
                name: "Acme SSO",
                autoCreate: autoCreate
            )
            $0.passwordSignIn = passwords
        }) { app in
            let provider = FakeIdentityProvider()
            provider.install(in: app)
            try await test(app, provider)
        }
    }

    /// The browser's trip: the portal's redirect, the provider's approval, the callback.
    private func signIn(
        _ browser: Browser,
        _ provider: FakeIdentityProvider,
        next: String = "/settings/devices",
        claims: [String: ClaimValue] = FakeIdentityProvider.claims()
    ) async throws -> (callback: String, response: TestingHTTPResponse) {
        let callback = try await approvedCallback(browser, provider, next: next, claims: claims)
        return (callback, try await browser.get(callback))
    }

    /// The trip up to the provider's approval: the callback path the provider sends the browser to.
    private func approvedCallback(
        _ browser: Browser,
        _ provider: FakeIdentityProvider,
        next: String = "/settings/devices",
        claims: [String: ClaimValue] = FakeIdentityProvider.claims()
    ) async throws -> String {
        let start = try await browser.get("/login/oidc?next=" + FormEncoding.escape(next))
        #expect(start.status == .seeOther)
        let location = try #require(start.headers.first(name: .location))
        #expect(location.hasPrefix(FakeIdentityProvider.issuer + "/authorize?"))
        let (code, state) = try provider.approve(authorizationURL: location, claims: claims)
        return "/login/oidc/callback?code=\(code)&state=\(FormEncoding.escape(state))"
    }

    @Test("the sign-in page offers the provider above the password form, or alone when passwords are off")
    func signInPage() async throws {
        try await withProvider { app, _ in
            let page = try await Browser(app: app).get("/login?next=/orgs/acme/members")
            #expect(page.text.contains("Sign in with Acme SSO"))
            #expect(page.text.contains(#"href="/login/oidc?next=%2Forgs%2Facme%2Fmembers""#))
            #expect(page.text.contains(#"name="password""#))
            let button = try #require(page.text.range(of: "provider-signin"))
            let form = try #require(page.text.range(of: #"action="/login""#))
            #expect(button.lowerBound < form.lowerBound)
        }
        try await withProvider(passwords: false) { app, _ in
            let page = try await Browser(app: app).get("/login")
            #expect(page.text.contains("Sign in with Acme SSO"))
            #expect(!page.text.contains(#"name="password""#))
        }
        try await withPortal { app in
            let page = try await Browser(app: app).get("/login")
            #expect(!page.text.contains("provider-signin"))
            #expect(try await Browser(app: app).get("/login/oidc").status == .notFound)
        }
    }

    @Test("a verified email links the existing account, signs in and goes on to next, with PKCE and a nonce")
    func linksExistingAccount() async throws {
        try await withProvider { app, provider in
            let (ada, _, _) = try await Fixtures(app: app).standardCast()
            let browser = Browser(app: app)
            let (_, response) = try await signIn(
                browser,
                provider,
                claims: FakeIdentityProvider.claims(email: "Ada@Example.com")
            )
            #expect(response.status == .seeOther)
            #expect(response.headers.first(name: .location) == "/settings/devices")
            #expect(try await browser.get("/settings/devices").status == .ok)

            let link = try #require(
                try await LinkedIdentity.find(issuer: FakeIdentityProvider.issuer, subject: "sub-ada", on: app.db)
            )
            #expect(link.$user.id == ada.id)
            let tokenRequest = try #require(provider.lastTokenRequest)
            #expect(tokenRequest.contains("code_verifier="))
            #expect(tokenRequest.contains("grant_type=authorization_code"))
            let events = try await AuditEvent.query(on: app.db).filter(\.$kind == .signInSucceeded).all()
            #expect(events.map(\.details) == [#"{"method":"oidc"}"#])

            // Once linked, the email may change at the provider: the sub decides.
            let later = Browser(app: app)
            let (_, again) = try await signIn(
                later,
                provider,
                claims: FakeIdentityProvider.claims(email: "ada.lovelace@example.com", verified: false)
            )
            #expect(again.status == .seeOther)
            #expect(try await User.query(on: app.db).count() == 1)
        }
    }

    @Test(
        "linking takes the account over: its password, other browsers and earlier tokens end (the inviter may have made them)"
    )
    func linkingTakesTheAccountOver() async throws {
        try await withProvider { app, provider in
            let fixtures = Fixtures(app: app)
            let (ada, acme, client) = try await fixtures.standardCast()
            let token = try await fixtures.token(for: ada, in: acme, client: client)
            let earlier = Browser(app: app)
            #expect(try await earlier.signIn().status == .seeOther)
            #expect(try await earlier.get("/settings/devices").status == .ok)

            let (_, linked) = try await signIn(Browser(app: app), provider)  // MUT
            #expect(linked.status == .seeOther)

            #expect(try await DesktopApp(app: app).me(token).status == .unauthorized)
            #expect(try await earlier.get("/settings/devices").status != .ok)
            let again = try await Browser(app: app).signIn()
            #expect(again.status != .seeOther)
            #expect(try await User.find(ada.requireID(), on: app.db)?.passwordHash == "")
        }
    }

    @Test("a state used twice, or brought by another browser, or too old, signs nobody in")
    func stateIsSingleUseAndBound() async throws {
        try await withProvider { app, provider in
            try await Fixtures(app: app).standardCast()
            // A replay by someone who copied the browser's cookie too: the state was used.
            let browser = Browser(app: app)
            let callback = try await approvedCallback(browser, provider)
            let copied = Browser(app: app)
            copied.cookies = browser.cookies
            #expect(try await browser.get(callback).status == .seeOther)
            let replay = try await copied.get(callback)
            #expect(replay.status == .badRequest)
            #expect(replay.text.contains("not started in this browser"))
            #expect(copied.cookies[SessionCookie.name] == nil)
            let replayFailure = try await AuditEvent.query(on: app.db).filter(\.$kind == .signInFailed).first()
            #expect(replayFailure?.details == #"{"method":"oidc","reason":"bad_state"}"#)

            let victim = Browser(app: app)
            let victimsCallback = try await approvedCallback(victim, provider)
            let attacker = Browser(app: app)
            _ = try await attacker.get("/login/oidc")  // a cookie of its own
            let foreign = try await attacker.get(victimsCallback)
            #expect(foreign.status == .badRequest)
            #expect(attacker.cookies[SessionCookie.name] == nil)
            // The other browser used nothing up: the person's own callback still signs them in.
            #expect(try await victim.get(victimsCallback).status == .seeOther)

            let slow = Browser(app: app)
            let clock = MovableClock()
            app.clock = clock
            let lateCallback = try await approvedCallback(slow, provider)
            clock.advance(by: OIDCSignInAttempt.lifetime + 1)
            #expect(try await slow.get(lateCallback).status == .badRequest)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$kind == .signInFailed).count() == 3)
        }
    }

    @Test("a refusal at the provider is a page, audited, and signs nobody in")
    func deniedAtProvider() async throws {
        try await withProvider { app, _ in
            let browser = Browser(app: app)
            let start = try await browser.get("/login/oidc")
            let location = try #require(start.headers.first(name: .location))
            let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
            let denied = try await browser.get("/login/oidc/callback?error=access_denied&state=\(state)")
            #expect(denied.status == .forbidden)
            #expect(denied.text.contains("did not allow the sign-in"))
            #expect(browser.cookies[SessionCookie.name] == nil)
            let failure = try #require(try await AuditEvent.query(on: app.db).filter(\.$kind == .signInFailed).first())
            #expect(failure.details == #"{"method":"oidc","reason":"denied"}"#)
        }
    }

    /// ID tokens that must not sign anyone in, each with what the page says.
    static let badTokens: [(String, String)] = [
        ("another nonce", "bad_id_token_nonce"), ("another audience", "bad_id_token_audience"),
        ("another issuer", "bad_id_token_issuer"), ("expired", "bad_id_token_expired"),
        ("azp of another client", "bad_id_token_authorized_party"), ("no nonce", "bad_id_token_nonce"),
        ("no iat", "bad_id_token_malformed"),
    ]

    @Test("an ID token for another sign-in, audience, issuer or time signs nobody in", arguments: badTokens)
    func badIDToken(_ bad: (String, String)) async throws {
        try await withProvider { app, provider in
            try await Fixtures(app: app).standardCast()
            var claims = FakeIdentityProvider.claims()
            switch bad.0 {
            case "another nonce": claims["nonce"] = .string("replayed-nonce")
            case "another audience": claims["aud"] = .string("someone-else")
            case "another issuer": claims["iss"] = .string("https://evil.example.com")
            case "expired": claims["exp"] = .number(Date().timeIntervalSince1970 - 600)
            case "azp of another client":
                claims["aud"] = .array([.string(FakeIdentityProvider.clientID), .string("other")])
                claims["azp"] = .string("other")
            case "no nonce": claims["nonce"] = .string("")
            case "no iat": claims["iat"] = nil
            default: Issue.record("unknown case")
            }
            let browser = Browser(app: app)
            let (_, response) = try await signIn(browser, provider, claims: claims)
            #expect(response.status == .badRequest, "\(bad.0)")
            #expect(browser.cookies[SessionCookie.name] == nil)
            #expect(try await LinkedIdentity.query(on: app.db).count() == 0)
            let failure = try #require(try await AuditEvent.query(on: app.db).filter(\.$kind == .signInFailed).first())
            #expect(failure.details.contains(bad.1))
        }
    }

    @Test("an unverified email matches no account and creates none")
    func unverifiedEmail() async throws {
        try await withProvider { app, provider in
            try await Fixtures(app: app).standardCast()
            for email in ["ada@example.com", "new@example.com"] {
                let browser = Browser(app: app)
                let (_, response) = try await signIn(
                    browser,
                    provider,
                    claims: FakeIdentityProvider.claims(subject: "sub-\(email)", email: email, verified: false)
                )
                #expect(response.status == .forbidden)
                #expect(response.text.contains("not verified"))
                #expect(browser.cookies[SessionCookie.name] == nil)
            }
            #expect(try await User.query(on: app.db).count() == 1)
            #expect(try await LinkedIdentity.query(on: app.db).count() == 0)
        }
    }

    @Test("a new person gets an account with no org and no password; with auto-create off, a page")
    func autoCreate() async throws {
        try await withProvider { app, provider in
            let browser = Browser(app: app)
            let (_, response) = try await signIn(
                browser,
                provider,
                next: "/auth/device",
                claims: FakeIdentityProvider.claims(subject: "sub-grace", email: "grace@example.com")
            )
            #expect(response.status == .seeOther)
            let grace = try #require(try await User.find(email: "grace@example.com", on: app.db))
            #expect(grace.name == "Ada from the provider")
            #expect(grace.passwordHash.isEmpty)
            #expect(try await Membership.query(on: app.db).count() == 0)
            let page = try await browser.get("/auth/device")
            #expect(page.status == .ok)

            // No password was ever set, so none signs in.
            let byPassword = try await Browser(app: app).signIn("grace@example.com", password: "any password at all")
            #expect(byPassword.status == .unauthorized)
        }
        try await withProvider(autoCreate: false) { app, provider in
            let browser = Browser(app: app)
            let (_, response) = try await signIn(
                browser,
                provider,
                claims: FakeIdentityProvider.claims(subject: "sub-grace", email: "grace@example.com")
            )
            #expect(response.status == .forbidden)
            #expect(response.text.contains("not created automatically"))
            #expect(try await User.query(on: app.db).count() == 0)
        }
    }

    @Test("an account linked to one person at the provider is not taken over by another with its email")
    func noTakeover() async throws {
        try await withProvider { app, provider in
            try await Fixtures(app: app).standardCast()
            #expect(try await signIn(Browser(app: app), provider).response.status == .seeOther)
            let (_, other) = try await signIn(
                Browser(app: app),
                provider,
                claims: FakeIdentityProvider.claims(subject: "sub-mallory")
            )
            #expect(other.status == .forbidden)
            #expect(try await LinkedIdentity.query(on: app.db).count() == 1)
        }
    }

    @Test("a provider that is down is a page, even with its discovery document cached; passwords go on working")
    func providerDown() async throws {
        try await withProvider { app, provider in
            try await Fixtures(app: app).standardCast()
            #expect(try await Browser(app: app).get("/login/oidc").status == .seeOther)
            provider.setDown(true)
            let start = try await Browser(app: app).get("/login/oidc")
            #expect(start.status == .serviceUnavailable)
            #expect(start.text.contains("cannot be reached"))
            #expect(try await Browser(app: app).signIn().status == .seeOther)
        }
    }

    @Test("a provider whose discovery document names another issuer is unreachable: nobody is sent to it")
    func discoveryOfAnotherIssuer() async throws {
        try await withProvider { app, provider in
            provider.announceIssuer("https://evil.example.com")
            let start = try await Browser(app: app).get("/login/oidc")
            #expect(start.status == .serviceUnavailable)
            #expect(start.headers.first(name: .location) == nil)
        }
    }

    @Test("a callback that reaches an instance which cannot fetch the discovery document is a page, audited")
    func discoveryFailsAtCallback() async throws {
        try await withProvider { app, provider in
            try await Fixtures(app: app).standardCast()
            let browser = Browser(app: app)
            let approved = try await approvedCallback(browser, provider)
            // Another instance: nothing cached yet, and the provider is down.
            let settings = try #require(app.oidcProvider?.settings)
            app.oidcProvider = OIDCProvider(settings, app: app)
            provider.setDown(true)
            let callback = try await browser.get(approved)
            #expect(callback.status == .serviceUnavailable)
            #expect(browser.cookies[SessionCookie.name] == nil)
            let failure = try await AuditEvent.query(on: app.db).filter(\.$kind == .signInFailed).first()
            #expect(failure?.details == #"{"method":"oidc","reason":"provider_unreachable"}"#)
        }
    }

    @Test("the state and the browser cookie are stored only as hashes; the cookie is HttpOnly")
    func stateStoredAsHash() async throws {
        try await withProvider { app, _ in
            let browser = Browser(app: app)
            let start = try await browser.get("/login/oidc")  // MUT
            let location = try #require(start.headers.first(name: .location))
            let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
            let cookie = try #require(browser.cookies[OIDCSignInController.cookieName(https: false)])
            let row = try #require(try await OIDCSignInAttempt.query(on: app.db).first())
            #expect(row.stateHash == OpaqueSecret.hash(state) && row.stateHash != state)
            #expect(row.browserHash == OpaqueSecret.hash(cookie) && row.browserHash != cookie)
            #expect(start.headers.setCookie?[OIDCSignInController.cookieName(https: false)]?.isHTTPOnly == true)
        }
    }

    @Test("sign-ins started from one address are limited like password attempts: 429 with Retry-After")
    func startsAreRateLimited() async throws {
        try await withProvider { app, _ in
            let limit = try #require(RateLimiter.signInPerIPRules.first).limit
            for _ in 0..<limit { #expect(try await Browser(app: app).get("/login/oidc").status == .seeOther) }
            let refused = try await Browser(app: app).get("/login/oidc")  // MUT
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers.first(name: "Retry-After") != nil)
            #expect(try await OIDCSignInAttempt.query(on: app.db).count() == limit)
        }
    }

    @Test("with PASSWORD_SIGNIN=false a password signs nobody in")
    func passwordsOff() async throws {
        try await withProvider(passwords: false) { app, _ in
            try await Fixtures(app: app).standardCast()
            let browser = Browser(app: app)
            let refused = try await browser.signIn()
            #expect(refused.status == .forbidden)
            #expect(browser.cookies[SessionCookie.name] == nil)
            #expect(try await WebSession.query(on: app.db).count() == 0)
        }
    }
}
