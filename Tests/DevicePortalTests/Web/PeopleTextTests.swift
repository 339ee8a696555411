import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("What pages say to people: dates, counts, the audit log")
struct PeopleTextTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)  // 2026-11-28T…Z

    static let relativeCases: [(TimeInterval, String)] = [
        (-10, "less than a minute ago"), (30, "in less than a minute"), (-60, "1 minute ago"),
        (-150, "3 minutes ago"), (-3 * 3_600, "3 hours ago"), (-3_600, "1 hour ago"),
        (6 * 86_400 + 23 * 3_600, "in 7 days"), (6 * 86_400, "in 6 days"), (86_400, "in 1 day"),
        (-90 * 86_400, "3 months ago"), (30 * 86_400, "in 30 days"), (-800 * 86_400, "2 years ago"),
    ]

    @Test("relative dates as people say them", arguments: relativeCases)
    func relative(offset: TimeInterval, expected: String) {
        #expect(ShownDate.relative(Self.now.addingTimeInterval(offset), now: Self.now) == expected)  // MUT
    }

    @Test("a date keeps its exact value for machines and reads as a date for people")
    func shownDate() {
        let shown = ShownDate(
            Date(timeIntervalSince1970: 1_764_610_200),
            now: Date(timeIntervalSince1970: 1_764_620_000)
        )
        #expect(shown.exact == "2025-12-01T17:30:00Z")
        #expect(shown.date == "1 Dec 2025, 17:30 UTC")
        #expect(shown.relative == "3 hours ago")
    }

    @Test("counts agree with their nouns", arguments: [(0, "0 tokens"), (1, "1 token"), (2, "2 tokens")])
    func counts(number: Int, expected: String) {
        #expect(Wording.count(number, "token") == expected)
        #expect(PageError.wait(seconds: 1) == "1 second")
    }

    /// A page's text with the `datetime` attributes taken out: what people read.
    private func readable(_ html: String) -> String {
        html.replacing(/datetime="[^"]*"/, with: "")
    }

    @Test("the devices page shows dates and relative times, never RFC 3339, and counts its devices")
    func devicesPage() async throws {
        try await withPortal { app in
            let clock = MovableClock()
            app.clock = clock
            let cast = try await OrganizationCast.make(app)
            let browser = Browser(app: app)
            try await browser.signIn("member@acme.example")
            let page = try await browser.get("/settings/devices")  // MUT
            #expect(page.text.contains("1 device is signed in as you."))
            #expect(page.text.contains("less than a minute") && page.text.contains("in 3 months"))
            #expect(page.text.contains(#"<time datetime=""#))
            #expect(readable(page.text).firstMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/) == nil)
            _ = try await Fixtures(app: app).token(
                for: cast.users["member"]!,
                in: cast.acme,
                client: try await Fixtures(app: app).client("other")
            )
            #expect(try await browser.get("/settings/devices").text.contains("2 devices are signed in as you."))
        }
    }

    @Test("members and roles pages: 1 token, 2 tokens, 1 member, never \"(s)\"")
    func pluralCounts() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            _ = try await Fixtures(app: app).token(
                for: cast.users["viewer"]!,
                in: cast.acme,
                client: try await Fixtures(app: app).client("second")
            )
            let browser = Browser(app: app)
            try await browser.signIn("owner@acme.example")
            let members = try await browser.get("/orgs/acme/members")  // MUT
            #expect(members.text.contains("Remove (revokes 1 token)"))
            #expect(members.text.contains("Remove (revokes 2 tokens)"))
            #expect(members.text.contains("Revoke 2 tokens"))
            #expect(members.text.contains("4 members"))
            let roles = try await browser.get("/orgs/acme/roles")
            #expect(roles.text.contains(#"<span class="muted">1 member</span>"#))
            for page in [
                members, roles, try await browser.get("/orgs/acme/settings"), try await browser.get("/orgs/acme/audit"),
            ] {
                #expect(!page.text.contains("(s)"))
            }
        }
    }

    @Test("the audit page filters by a person's email and shows details as labelled fields")
    func auditPage() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let invited = try await cast.invitation("nia@example.com", as: "viewer")
            #expect(invited.invitation.role == "viewer")
            let browser = Browser(app: app)
            try await browser.signIn("owner@acme.example")
            try await browser.get("/orgs/acme/members")
            try await browser.post("/orgs/acme/members/\(cast.id("viewer"))/role", [("role", "member")])
            let page = try await browser.get("/orgs/acme/audit?user=Viewer%40acme.example")  // MUT
            #expect(page.status == .ok)
            #expect(page.text.contains(#"value="viewer@acme.example""#))
            #expect(page.text.contains("<dt>Previous role</dt><dd>viewer</dd><dt>New role</dt><dd>member</dd>"))
            #expect(page.text.contains(#"<span class="badge">member.role_changed</span>"#))
            #expect(!page.text.contains("member@acme.example →") && !page.text.contains("nia@example.com"))
            #expect(!page.text.contains(#"{""#))
            #expect(readable(page.text).firstMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/) == nil)
            // A person without an account is found by the email the events name.
            let nia = try await browser.get("/orgs/acme/audit?user=nia%40example.com")
            #expect(nia.text.contains(#"<span class="badge">member.invited</span>"#))
            #expect(nia.text.contains("<dt>Role</dt><dd>viewer</dd>"))
            #expect(!nia.text.contains(#"<span class="badge">member.role_changed</span>"#))
            #expect(try await browser.get("/orgs/acme/audit?user=nobody").status == .badRequest)
            // The API takes the email too.
            let api = try await cast.call(.GET, "/api/orgs/acme/audit?user=nia@example.com", as: "admin")
                .decoded(as: AuditAPIController.AuditPage.self)
            #expect(api.items.map(\.kind) == ["member.invited"])
        }
    }
}
