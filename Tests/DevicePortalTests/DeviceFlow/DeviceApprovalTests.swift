import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("The /auth/device pages")
struct DeviceApprovalTests {
    @Test("the code from the link is prefilled, normalized, and never approved without a click")
    func prefilledNotApproved() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            let lower = code.userCode.lowercased().replacingOccurrences(of: "-", with: "")
            let page = try await browser.get("/auth/device?user_code=\(lower)")  // MUT
            #expect(page.status == .ok)
            #expect(page.text.contains(#"value="\#(code.userCode)""#))
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.status == .pending)
        }
    }

    @Test("the confirmation page shows the app, the machine, where and when it asked, and the user's orgs")
    func confirmationPage() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, _, _) = try await fixtures.standardCast(role: "admin")
            let closed = try await fixtures.organization("closed", name: "Closed Corp")
            closed.deviceSignIn = false
            try await closed.save(on: app.db)
            try await fixtures.member(user, of: closed, as: "owner")
            let code = try await DesktopApp(app: app).requestCode(deviceName: "ada-laptop")
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")
            let typed = " " + code.userCode.lowercased().replacingOccurrences(of: "-", with: "") + " "
            let page = try await browser.post("/auth/device", [("user_code", typed)])  // MUT
            #expect(page.status == .ok)
            for expected in [
                "Acme Desktop", "ada-laptop", "less than a minute ago", "your role: admin", #"name="org" value="acme""#,
                #"name="action" value="approve""#, #"name="action" value="deny""#, "Approve only if you started",
            ] {
                #expect(page.text.contains(expected), "\(expected)")
            }
            #expect(!page.text.contains(#"name="org" value="closed""#))
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.status == .pending)
        }
    }

    @Test("a code asked for from another address says so beside both; one older than 3 minutes gets the strong warning")
    func phishingWarnings() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            try await browser.get("/auth/device")
            let fresh = try await browser.post("/auth/device", [("user_code", code.userCode)])
            #expect(fresh.text.contains("(the same as yours)"))
            #expect(!fresh.text.contains("This code was requested"))

            let authorization = try #require(try await DeviceAuthorization.query(on: app.db).first())
            authorization.requesterIP = "203.0.113.7"
            try await authorization.save(on: app.db)
            try await app.db.sql.update(DeviceAuthorization.schema)
                .set("created_at", to: Date().addingTimeInterval(-DeviceApprovalController.oldCodeAge - 60))
                .run()
            let old = try await browser.post("/auth/device", [("user_code", code.userCode)])  // MUT
            #expect(old.status == .ok)
            #expect(old.text.contains("203.0.113.7 <strong class=\"mismatch\">not your address (you are at unknown)"))
            #expect(old.text.contains("This code was requested 4 minutes ago."))
            #expect(old.text.contains(#"name="action" value="deny""#))
        }
    }

    @Test("approving for an org that is not the user's, or that forbids device sign-in, is refused")
    func approvalOrgRules() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, _, _) = try await fixtures.standardCast()
            try await fixtures.organization("globex")
            let closed = try await fixtures.organization("closed")
            closed.deviceSignIn = false
            try await closed.save(on: app.db)
            try await fixtures.member(user, of: closed, as: "owner")
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            for org in ["globex", "closed", "nowhere"] {
                let response = try await browser.approve(code.userCode, org: org)  // MUT
                #expect(response.status == .badRequest, "\(org)")
            }
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.status == .pending)
        }
    }

    @Test("without the session's CSRF token nothing is decided")
    func csrf() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            let response = try await browser.post(
                "/auth/device/confirm",
                [("user_code", code.userCode), ("org", "acme"), ("action", "approve"), ("csrf_token", "")]
            )  // MUT
            #expect(response.status == .forbidden)
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.status == .pending)
        }
    }

    @Test("a denied, expired or already approved code can never be approved, and says why")
    func finalStates() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let browser = Browser(app: app)
            try await browser.signIn()

            let denied = try await desktop.requestCode()
            try await browser.approve(denied.userCode, action: "deny")
            let again = try await browser.post(
                "/auth/device/confirm",
                [("user_code", denied.userCode), ("org", "acme"), ("action", "approve")]
            )
            #expect(again.status == .conflict)
            #expect(again.text.contains("already approved or denied"))

            let approved = try await desktop.requestCode()
            #expect(try await browser.approve(approved.userCode).status == .ok)
            let twice = try await browser.post(
                "/auth/device/confirm",
                [("user_code", approved.userCode), ("org", "acme"), ("action", "deny")]
            )
            #expect(twice.status == .conflict)

            let expired = try await desktop.requestCode()
            try await expireCodes(app)
            let late = try await browser.approve(expired.userCode)
            #expect(late.status == .gone)
            #expect(late.text.contains("expired"))

            let statuses = try await DeviceAuthorization.query(on: app.db).sort(\.$createdAt).all().map(\.status)
            #expect(statuses == [.denied, .approved, .pending])
        }
    }

    @Test("with several organizations none is chosen in advance; with one it is")
    func organizationPreselection() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, _, _) = try await fixtures.standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            try await browser.get("/auth/device")
            let single = try await browser.post("/auth/device", [("user_code", code.userCode)])
            #expect(single.text.contains("checked"))
            try await fixtures.member(user, of: try await fixtures.organization("globex"))
            let several = try await browser.post("/auth/device", [("user_code", code.userCode)])  // MUT
            #expect(!several.text.contains("checked"))
            #expect(several.text.contains("required"))
        }
    }

    @Test("wrong codes: 5 a minute per user, then 429 with Retry-After, even for a right code")
    func rateLimitPerUser() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            try await browser.get("/auth/device")
            for _ in 0..<5 {
                #expect(try await browser.post("/auth/device", [("user_code", "BBBB-BBBB")]).status == .badRequest)
            }
            let limited = try await browser.post("/auth/device", [("user_code", code.userCode)])  // MUT
            #expect(limited.status == .tooManyRequests)
            let retryAfter = try #require(limited.headers.first(name: .retryAfter).flatMap(Int.init))
            #expect((1...60).contains(retryAfter))
            #expect(
                try await browser.post(
                    "/auth/device/confirm",
                    [("user_code", code.userCode), ("org", "acme"), ("action", "approve")]
                ).status == .tooManyRequests
            )
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.status == .pending)
        }
    }

    @Test("a right code does not count against the limit")
    func rightCodesDoNotCount() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            try await browser.get("/auth/device")
            for _ in 0..<8 {
                #expect(try await browser.post("/auth/device", [("user_code", code.userCode)]).status == .ok)
            }
        }
    }

    @Test("the limit is per IP too: another user from the same address is held back")
    func rateLimitPerIP() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (_, organization, _) = try await fixtures.standardCast()
            let bob = try await fixtures.user("bob@example.com", name: "Bob")
            try await fixtures.member(bob, of: organization)
            let ada = Browser(app: app)
            try await ada.signIn()
            try await ada.get("/auth/device")
            for _ in 0..<5 { try await ada.post("/auth/device", [("user_code", "BBBB-BBBB")]) }
            let bobsBrowser = Browser(app: app)
            try await bobsBrowser.signIn("bob@example.com")
            try await bobsBrowser.get("/auth/device")
            let response = try await bobsBrowser.post("/auth/device", [("user_code", "CCCC-CCCC")])  // MUT
            #expect(response.status == .tooManyRequests)
        }
    }

    @Test("20 wrong codes an hour, then 429 until the oldest leaves the hour")
    func rateLimitPerHour() async throws {
        try await withPortal { app in
            let clock = MovableClock()
            app.clock = clock  // the answer below is exact, however slow the machine
            let (user, _, _) = try await Fixtures(app: app).standardCast()
            let earlier = clock.now.addingTimeInterval(-1_800)
            for _ in 0..<20 {
                try await RateLimitEvent(bucket: "user-code:user:\(user.id!)", occurredAt: earlier).create(on: app.db)
            }
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")
            let response = try await browser.post("/auth/device", [("user_code", "BBBB-BBBB")])  // MUT
            #expect(response.status == .tooManyRequests)
            let retryAfter = try #require(response.headers.first(name: .retryAfter).flatMap(Int.init))
            #expect((1_800...1_801).contains(retryAfter))  // rounded up from a stored time
        }
    }
}
