import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Organization pages")
struct OrganizationPagesTests {
    /// The cast, with `who` signed in through the login form.
    private func signedIn(_ who: String, _ app: Application) async throws -> (OrganizationCast, Browser) {
        let cast = try await OrganizationCast.make(app)
        let browser = Browser(app: app)
        let response = try await browser.signIn("\(who)@acme.example")
        #expect(response.status == .seeOther)
        return (cast, browser)
    }

    @Test("the members page lists roles and token counts; removing there kills the member's token")
    func members() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("admin", app)
            let page = try await browser.get("/orgs/acme/members")
            #expect(page.status == .ok)
            #expect(page.text.contains("member@acme.example"))
            #expect(page.text.contains("Remove (revokes 1 token)"))
            let removed = try await browser.post("/orgs/acme/members/\(cast.id("member"))/remove", [])  // MUT
            #expect(removed.status == .seeOther)
            #expect(try await DesktopApp(app: app).me(cast.tokens["member"]!).status == .unauthorized)
            #expect(try await cast.auditEvents(.memberRemoved).count == 1)
        }
    }

    @Test("pages enforce the same rules: a viewer sees members but cannot change them")
    func viewerLimits() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("viewer", app)
            let page = try await browser.get("/orgs/acme/members")
            #expect(page.status == .ok)
            #expect(!page.text.contains("Remove ("))
            try await browser.get("/orgs/acme/members")
            let forged = try await browser.post("/orgs/acme/members/\(cast.id("member"))/remove", [])
            #expect(forged.status == .forbidden)
            #expect(try await browser.get("/orgs/acme/roles").status == .forbidden)
            #expect(try await browser.get("/orgs/acme/settings").status == .forbidden)
            #expect(try await browser.get("/orgs/acme/audit").status == .forbidden)
            #expect(try await browser.get("/orgs/globex/members").status == .notFound)
            #expect(try await DesktopApp(app: app).me(cast.tokens["member"]!).status == .ok)
        }
    }

    @Test("a change of role on the page counts on the member's next request")
    func changeRole() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("owner", app)
            try await browser.get("/orgs/acme/members")
            let changed = try await browser.post("/orgs/acme/members/\(cast.id("viewer"))/role", [("role", "admin")])
            #expect(changed.status == .seeOther)
            let me = try await DesktopApp(app: app).me(cast.tokens["viewer"]!).decoded(as: MeController.Me.self)
            #expect(me.role.name == "admin")
        }
    }

    @Test("a member's role form offers only what the signed-in person may grant, and none for an owner unless one")
    func roleChoices() async throws {
        try await withPortal { app in
            let (cast, admin) = try await signedIn("admin", app)
            let page = try await admin.get("/orgs/acme/members").text  // MUT
            #expect(Self.roleChoices(of: cast.id("viewer"), in: page) == ["admin", "member", "viewer"])
            #expect(Self.roleChoices(of: cast.id("owner"), in: page) == nil)
            #expect(Self.roleChoices(of: cast.id("admin"), in: page) == nil)
            #expect(page.contains("/members/\(cast.id("owner"))/remove"))

            let owner = Browser(app: app)
            #expect(try await owner.signIn("owner@acme.example").status == .seeOther)
            let ownersPage = try await owner.get("/orgs/acme/members").text
            #expect(Self.roleChoices(of: cast.id("viewer"), in: ownersPage) == ["owner", "admin", "member", "viewer"])
        }
    }

    /// The options of the role form of member `id`; `nil` when the page has no such form.
    private static func roleChoices(of id: String, in page: String) -> [String]? {
        guard let start = page.range(of: #"<select id="role-\#(id)" name="role">"#),
            let end = page[start.upperBound...].range(of: "</select>")
        else { return nil }
        return page[start.upperBound..<end.lowerBound].matches(of: /<option value="([^"]+)"/).map { String($0.1) }
    }

    @Test("roles can be created and edited with checkboxes; policy is saved by owners")
    func rolesAndPolicy() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("owner", app)
            try await browser.get("/orgs/acme/roles")
            let created = try await browser.post(
                "/orgs/acme/roles",
                [("name", "analyst"), ("permissions[]", "queries:read"), ("permissions[]", "queries:run")]
            )
            #expect(created.status == .seeOther)
            let role = try #require(try await Role.find(named: "analyst", in: cast.acme.requireID(), on: app.db))
            #expect(role.permissions == [.queriesRead, .queriesRun])
            let page = try await browser.get("/orgs/acme/roles")
            #expect(page.text.contains(#"value="queries:run" checked"#))

            try await browser.get("/orgs/acme/settings")
            let saved = try await browser.post("/orgs/acme/settings", [("token_ttl", "3600")])
            #expect(saved.status == .seeOther)
            let organization = try #require(try await Organization.find(cast.acme.id, on: app.db))
            #expect(organization.deviceSignIn == false)
            #expect(organization.tokenTTL == 3_600)
            #expect(
                try await browser.post("/orgs/acme/settings", [("token_ttl", "soon")]).status == .unprocessableEntity
            )
        }
    }

    @Test("the audit page shows events and filters them")
    func audit() async throws {
        try await withPortal { app in
            let (_, browser) = try await signedIn("owner", app)
            let page = try await browser.get("/orgs/acme/audit?kind=member.added")
            #expect(page.status == .ok)
            #expect(page.text.contains("member@acme.example"))
            #expect(page.text.contains(#"<span class="badge">member.added</span>"#))
            #expect(!page.text.contains(#"<span class="badge">signin.succeeded</span>"#))
        }
    }

    @Test("my devices: revoke one, or sign out all")
    func devices() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("member", app)
            let page = try await browser.get("/settings/devices")
            #expect(page.text.contains("test machine"))
            #expect(!page.text.contains(cast.tokens["member"]!))
            let id = try #require(
                try await APIToken.query(on: app.db).filter(\.$user.$id == cast.users["member"]!.requireID()).first()?
                    .id
            )
            #expect(try await browser.post("/settings/devices/\(id)/revoke", []).status == .seeOther)
            #expect(try await DesktopApp(app: app).me(cast.tokens["member"]!).status == .unauthorized)

            let owner = Browser(app: app)
            try await owner.signIn("owner@acme.example")
            try await owner.get("/settings/devices")
            #expect(try await owner.post("/settings/devices/revoke-all", []).status == .seeOther)
            #expect(try await DesktopApp(app: app).me(cast.tokens["owner"]!).status == .unauthorized)
            #expect(try await DesktopApp(app: app).me(cast.tokens["viewer"]!).status == .ok)
        }
    }

    @Test("the header's organization picker sets the org that session JWTs act in")
    func activeOrganization() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            try await Fixtures(app: app).member(cast.users["viewer"]!, of: cast.globex, as: "member")
            let browser = Browser(app: app)
            try await browser.signIn("viewer@acme.example")
            let page = try await browser.get("/auth/device")
            #expect(page.text.contains(#"<option value="globex""#))
            let first = try await browser.sessionJWT()
            #expect(
                try await DesktopApp(app: app).me(first).decoded(as: MeController.Me.self).organization.slug == "acme"
            )
            let switched = try await browser.post(
                "/session/organization",
                [("org", "globex"), ("next", "/auth/device")]
            )
            #expect(switched.headers.first(name: .location) == "/auth/device")
            let second = try await browser.sessionJWT()
            #expect(
                try await DesktopApp(app: app).me(second).decoded(as: MeController.Me.self).organization.slug
                    == "globex"
            )
            #expect(try await browser.post("/session/organization", [("org", "nowhere")]).status == .notFound)
        }
    }
}
