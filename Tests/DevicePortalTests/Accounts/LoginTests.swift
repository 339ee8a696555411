import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Web sign-in and sign-out")
struct LoginTests {
    @Test("signing in sets an HttpOnly, SameSite=Lax cookie whose value is stored only as a hash")
    func signIn() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            let browser = Browser(app: app)
            let response = try await browser.signIn(next: "/auth/device?user_code=WDJB-MJHT")  // MUT
            #expect(response.status == .seeOther)
            #expect(response.headers.first(name: .location) == "/auth/device?user_code=WDJB-MJHT")
            let setCookie = try #require(
                response.headers[.setCookie].first { $0.hasPrefix(SessionCookie.name + "=") }
            )
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Lax"))
            #expect(!setCookie.contains("Secure"))
            let secret = try #require(browser.cookies[SessionCookie.name])
            let session = try #require(try await WebSession.query(on: app.db).first())
            #expect(session.tokenHash == OpaqueSecret.hash(secret))
            #expect(session.id?.uuidString != secret)
            #expect(try await browser.get("/auth/device").status == .ok)
        }
    }

    @Test("over https the session cookie is Secure")
    func secureCookie() async throws {
        try await withPortal({ $0.publicBaseURL = "https://portal.example.com" }) { app in
            try await Fixtures(app: app).user()
            let response = try await Browser(app: app).signIn()
            let setCookie = try #require(
                response.headers[.setCookie].first { $0.hasPrefix(SessionCookie.name + "=") }
            )
            #expect(setCookie.contains("Secure"))
            #expect(response.headers.first(name: "Strict-Transport-Security") != nil)
        }
    }

    @Test("an unknown email and a wrong password get the same answer, and no session")
    func sameAnswerForUnknownEmailAndWrongPassword() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            let wrongPassword = try await Browser(app: app).signIn(password: "wrong password")  // MUT
            let unknownEmail = try await Browser(app: app).signIn("nobody@example.com")  // MUT
            for response in [wrongPassword, unknownEmail] {
                #expect(response.status == .unauthorized)
                #expect(response.text.contains("The email or the password is not right."))
                #expect(response.headers.setCookie?[SessionCookie.name] == nil)
            }
            #expect(try await WebSession.query(on: app.db).count() == 0)
        }
    }

    @Test("email case does not matter")
    func emailCase() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            #expect(try await Browser(app: app).signIn("ADA@Example.COM").status == .seeOther)
        }
    }

    @Test("a sign-in without the form's CSRF token is refused")
    func csrf() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            let browser = Browser(app: app)
            try await browser.get("/login")
            let forged = try await browser.post(
                "/login",
                [
                    ("email", "ada@example.com"), ("password", Fixtures.password),
                    ("csrf_token", String(repeating: "0", count: 64)),
                ]
            )
            #expect(forged.status == .forbidden)
            let noCookie = Browser(app: app)
            noCookie.csrfToken = browser.csrfToken
            let replayed = try await noCookie.post(
                "/login",
                [("email", "ada@example.com"), ("password", Fixtures.password)]
            )
            #expect(replayed.status == .forbidden)
            #expect(try await WebSession.query(on: app.db).count() == 0)
        }
    }

    @Test(
        "next only ever leads within the portal",
        arguments: [
            "//evil.example", "https://evil.example/", "/\\evil.example", "http:evil", "javascript:alert(1)",
            "/%0d%0aSet-Cookie:x", "evil.example",
        ]
    )
    func openRedirect(next: String) async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            let response = try await Browser(app: app).signIn(next: next)
            #expect(response.status == .seeOther)
            let location = try #require(response.headers.first(name: .location))
            #expect(location == SafeRedirect.fallback || (location.hasPrefix("/") && !location.hasPrefix("//")))
            #expect(!location.contains("evil.example") || location.hasPrefix("/%"))
        }
    }

    @Test("pages that need a user send others to sign in, and come back after")
    func requireSignIn() async throws {
        try await withPortal { app in
            let response = try await Browser(app: app).get("/auth/device?user_code=WDJB-MJHT")
            #expect(response.status == .seeOther)
            #expect(response.headers.first(name: .location) == "/login?next=/auth/device?user_code%3DWDJB-MJHT")
        }
    }

    @Test("signing out deletes the session: the old cookie no longer works")
    func signOut() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            let browser = Browser(app: app)
            try await browser.signIn()
            let oldCookie = try #require(browser.cookies[SessionCookie.name])
            try await browser.get("/auth/device")
            let response = try await browser.post("/logout", [])  // MUT
            #expect(response.status == .seeOther)
            #expect(try await WebSession.query(on: app.db).count() == 0)
            let stale = Browser(app: app)
            stale.cookies[SessionCookie.name] = oldCookie
            #expect(try await stale.get("/auth/device").status == .seeOther)
        }
    }

    @Test("every answer carries the security headers (HSTS over https only); pages have no inline script or style")
    func securityHeaders() async throws {
        try await withPortal { app in
            let response = try await Browser(app: app).get("/login")
            #expect(response.status == .ok)
            let csp = try #require(response.headers.first(name: "Content-Security-Policy"))
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(response.headers.first(name: "X-Frame-Options") == "DENY")
            #expect(response.headers.first(name: "Referrer-Policy") == "no-referrer")
            #expect(!response.text.contains("<script"))
            #expect(!response.text.contains("style="))
            let css = try await app.testing().sendRequest(.GET, "/css/portal.css")
            #expect(css.status == .ok)
            // The same headers on JSON answers, errors and static files; no HSTS over plain http.
            for answer in [response, css, try await app.testing().sendRequest(.GET, "/me")] {
                #expect(answer.headers.first(name: "X-Content-Type-Options") == "nosniff")
                #expect(answer.headers.first(name: "Content-Security-Policy") == csp)
                #expect(answer.headers.first(name: "Referrer-Policy") == "no-referrer")
                #expect(answer.headers.first(name: "Strict-Transport-Security") == nil)
            }
        }
        try await withPortal({ $0.publicBaseURL = "https://portal.example.com" }) { app in
            let response = try await app.testing().sendRequest(.GET, "/healthz")
            #expect(response.headers.first(name: "Strict-Transport-Security") == "max-age=31536000")
        }
    }

    @Test("5 failed sign-ins a minute lock the account: even the right password then gets 429, audited")
    func throttling() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            let browser = Browser(app: app)
            for _ in 0..<5 {
                #expect(try await browser.signIn(password: "wrong password").status == .unauthorized)
            }
            let locked = try await browser.signIn()  // MUT
            #expect(locked.status == .tooManyRequests)
            let retryAfter = try #require(locked.headers.first(name: .retryAfter).flatMap(Int.init))
            #expect((1...60).contains(retryAfter))
            #expect(locked.text.contains("Too many sign-in attempts"))
            #expect(try await WebSession.query(on: app.db).count() == 0)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$kind == .signInThrottled).count() == 1)
            // Another account from the same address is not locked by these five.
            try await Fixtures(app: app).user("bob@example.com", name: "Bob")
            #expect(try await Browser(app: app).signIn("bob@example.com").status == .seeOther)
            // More refused attempts, and guesses at emails without an account, write no more rows.
            let rows = try await AuditEvent.query(on: app.db).count()
            for _ in 0..<3 { #expect(try await browser.signIn().status == .tooManyRequests) }
            var failures = 0
            for index in 0..<25 {
                let answer = try await Browser(app: app).signIn(
                    "nobody\(index)@example.com",
                    password: "wrong password"
                )
                if answer.status == .unauthorized { failures += 1 }
            }
            #expect(failures < 25, "the per-IP limit engaged")
            #expect(try await AuditEvent.query(on: app.db).filter(\.$kind == .signInThrottled).count() == 1)
            #expect(try await AuditEvent.query(on: app.db).count() == rows + failures)
        }
    }

    @Test("20 failed sign-ins a minute from one address, over many accounts, hold back every account there")
    func throttlingPerIP() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            for attempt in 0..<20 {
                let guess = try await Browser(app: app).signIn("guess\(attempt)@example.com", password: "wrong")
                #expect(guess.status == .unauthorized)
            }
            let held = try await Browser(app: app).signIn()  // MUT: the right password of an untouched account
            #expect(held.status == .tooManyRequests)
            #expect(held.headers.first(name: .retryAfter) != nil)
            #expect(try await WebSession.query(on: app.db).count() == 0)
        }
    }

    @Test("a successful sign-in does not count against the limit")
    func successesDoNotCount() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).user()
            for _ in 0..<7 { #expect(try await Browser(app: app).signIn().status == .seeOther) }
        }
    }
}
