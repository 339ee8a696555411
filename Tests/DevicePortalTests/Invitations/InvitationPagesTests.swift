import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Invitation links: accepting, creating the account, refusals")
struct InvitationPagesTests {
    private func membership(_ email: String, _ cast: OrganizationCast) async throws -> Membership? {
        guard let user = try await User.find(email: email, on: cast.app.db) else { return nil }
        return try await Membership.find(
            userID: user.requireID(),
            organizationID: cast.acme.requireID(),
            on: cast.app.db
        )
    }

    @Test("signed in as the invited account: the page shows the invitation, a POST accepts it once")
    func acceptByExistingAccount() async throws {
        try await withPortal { app in
            app.clock = MovableClock()
            let cast = try await OrganizationCast.make(app)
            try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let made = try await cast.invitation("grace@example.com", as: "viewer", by: "admin")
            let browser = Browser(app: app)
            // Not signed in: the sign-in link comes back here; no account form, since the account exists.
            let anonymous = try await browser.get("/invitations/\(made.secret)")
            #expect(anonymous.status == .ok)
            #expect(anonymous.text.contains("/login?next=/invitations/\(made.secret)"))
            #expect(!anonymous.text.contains("Create account"))
            let signedIn = try await browser.signIn("grace@example.com", next: "/invitations/\(made.secret)")
            #expect(signedIn.headers.first(name: .location) == "/invitations/\(made.secret)")
            let page = try await browser.get("/invitations/\(made.secret)")
            for text in ["Acme", "viewer", "admin@acme.example", "in 7 days", "Accept and join Acme"] {
                #expect(page.text.contains(text), "\(text)")
            }
            let accepted = try await browser.post("/invitations/\(made.secret)/accept", [])  // MUT
            #expect(accepted.status == .seeOther)
            #expect(accepted.headers.first(name: .location) == "/orgs/acme/members")
            #expect(try await membership("grace@example.com", cast)?.role.name == "viewer")
            let row = try #require(try await Invitation.find(made.invitation.id, on: app.db))
            let grace = try await User.find(email: "grace@example.com", on: app.db)
            #expect(row.acceptedAt != nil && row.$acceptedBy.id == grace?.id)
            let events = try await cast.auditEvents(.invitationAccepted)
            #expect(events.count == 1 && events[0].actor == "grace@example.com")
            #expect(events[0].organizationID == cast.acme.id)
            // Single use: the link is spent.
            #expect(try await browser.post("/invitations/\(made.secret)/accept", []).status == .gone)
            #expect(try await browser.get("/invitations/\(made.secret)").status == .gone)
            #expect(try await cast.pendingInvitations().isEmpty)
        }
    }

    @Test("nobody signed in and no account: the account is created there, signed in, and a member with the role")
    func acceptByCreatingAccount() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("New@Example.com", as: "member", by: "owner")
            let browser = Browser(app: app)
            let page = try await browser.get("/invitations/\(made.secret)")
            #expect(page.text.contains("Create account and join"))
            #expect(page.text.contains(#"name="password""#) && page.text.contains(#"name="name""#))
            // The usual password rules; a refused form changes nothing.
            let short = try await browser.post("/invitations/\(made.secret)", [("name", "Nia"), ("password", "short")])
            #expect(short.status == .unprocessableEntity && short.text.contains("at least 8 characters"))
            let nameless = try await browser.post(
                "/invitations/\(made.secret)",
                [("name", " "), ("password", Fixtures.password)]
            )
            #expect(nameless.status == .unprocessableEntity)
            #expect(try await User.find(email: "new@example.com", on: app.db) == nil)
            let created = try await browser.post(
                "/invitations/\(made.secret)",
                [("name", "Nia Newcomer"), ("password", Fixtures.password)]
            )  // MUT
            #expect(created.status == .seeOther)
            #expect(created.headers.first(name: .location) == "/orgs/acme/members")
            let user = try #require(try await User.find(email: "new@example.com", on: app.db))
            #expect(user.name == "Nia Newcomer")
            #expect(try await membership("new@example.com", cast)?.role.name == "member")
            let members = try await browser.get("/orgs/acme/members")
            #expect(members.status == .ok && members.text.contains("Nia Newcomer"))
            // The password works for a later sign-in.
            #expect(try await Browser(app: app).signIn("new@example.com").status == .seeOther)
            #expect(try await cast.auditEvents(.invitationAccepted).count == 1)
            // Spent: another browser gets 410 and cannot create a second account.
            let late = Browser(app: app)
            #expect(try await late.get("/invitations/\(made.secret)").status == .gone)
            try await late.get("/login")
            #expect(
                try await late.post("/invitations/\(made.secret)", [("name", "X"), ("password", Fixtures.password)])
                    .status == .gone
            )
        }
    }

    @Test("with PASSWORD_SIGNIN=false an invitation offers no password account, and a posted one is refused")
    func noPasswordAccountsWhenPasswordsAreOff() async throws {
        try await withPortal({
            $0.oidc = OIDCSettings(issuer: "https://login.example.com", clientID: "portal")
            $0.passwordSignIn = false
        }) { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("new@example.com", as: "member", by: "owner")
            let browser = Browser(app: app)
            let page = try await browser.get("/invitations/\(made.secret)")
            #expect(page.status == .ok)
            #expect(!page.text.contains(#"name="password""#))
            let posted = try await browser.post(
                "/invitations/\(made.secret)",
                [("name", "Nia"), ("password", Fixtures.password)]
            )  // MUT
            #expect(posted.status == .forbidden)
            #expect(try await User.find(email: "new@example.com", on: app.db) == nil)
        }
    }

    @Test("two browsers creating the account at once: one succeeds, one membership, one account")
    func concurrentAcceptance() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("race@example.com")
            let link = "/invitations/\(made.secret)"
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        let browser = Browser(app: app)
                        try await browser.get(link)
                        return try await browser.post(link, [("name", "Racer"), ("password", Fixtures.password)]).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }  // MUT
            #expect(statuses.filter { $0 == .seeOther }.count == 1, "\(statuses)")
            #expect(statuses.allSatisfy { [.seeOther, .gone, .conflict].contains($0) }, "\(statuses)")
            #expect(try await User.query(on: app.db).filter(\.$email == "race@example.com").count() == 1)
            #expect(try await cast.auditEvents(.invitationAccepted).count == 1)
        }
    }

    @Test("signed in as someone else: a page saying so, accepting is refused, signing out comes back here")
    func wrongAccount() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("grace@example.com")
            let browser = Browser(app: app)
            try await browser.signIn("viewer@acme.example")
            let page = try await browser.get("/invitations/\(made.secret)")
            #expect(page.status == .ok)
            #expect(page.text.contains("but you are signed in as") && page.text.contains("viewer@acme.example"))
            #expect(!page.text.contains("Accept and join"))
            let refused = try await browser.post("/invitations/\(made.secret)/accept", [])  // MUT
            #expect(refused.status == .forbidden && refused.text.contains("This invitation is for grace@example.com"))
            let forged = try await browser.post(
                "/invitations/\(made.secret)",
                [("name", "X"), ("password", Fixtures.password)]
            )
            #expect(forged.status == .forbidden)
            #expect(try await cast.pendingInvitations().count == 1)
            #expect(try await User.find(email: "grace@example.com", on: app.db) == nil)
            let out = try await browser.post("/logout", [("next", "/invitations/\(made.secret)")])
            #expect(out.headers.first(name: .location) == "/invitations/\(made.secret)")
            #expect(try await browser.get("/invitations/\(made.secret)").text.contains("Create account and join"))
        }
    }

    @Test("an account that exists cannot be created again from the link: 409, nothing changes")
    func accountExists() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let made = try await cast.invitation("grace@example.com")
            let browser = Browser(app: app)
            try await browser.get("/login")  // the anonymous CSRF token: this page has no form
            let forged = try await browser.post(
                "/invitations/\(made.secret)",
                [("name", "Mallory"), ("password", Fixtures.password)]
            )  // MUT
            #expect(forged.status == .conflict)
            #expect(try await User.find(email: "grace@example.com", on: app.db)?.name == "Grace")
            #expect(try await cast.pendingInvitations().count == 1)
        }
    }

    @Test("removing a member withdraws the invitations still open to them: the link cannot bring them back")
    func removalWithdrawsOpenInvitations() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let grace = try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let invited = try await cast.invitation("grace@example.com", as: "admin")
            // Made a member another way meanwhile (the directory, or `portal add-member`).
            try await Fixtures(app: app).member(grace, of: cast.acme, as: "viewer")
            let removed = try await cast.call(.DELETE, "/api/orgs/acme/members/\(grace.requireID())", as: "admin")
            #expect(removed.status == .ok)  // MUT
            let row = try #require(try await Invitation.find(invited.invitation.id, on: app.db))
            #expect(row.withdrawnAt != nil)
            let withdrawn = try await cast.auditEvents(.invitationWithdrawn)
            #expect(withdrawn.count == 1 && withdrawn.first?.details.contains(#""reason":"member_removed""#) == true)

            let browser = Browser(app: app)
            #expect(try await browser.signIn("grace@example.com").status == .seeOther)
            let page = try await browser.get("/invitations/\(invited.secret)")
            #expect(page.status == .gone)
            #expect(
                try await Membership.find(userID: grace.requireID(), organizationID: cast.acme.requireID(), on: app.db)
                    == nil
            )
        }
    }

    @Test("expired, withdrawn or unknown links: 410 or 404 pages, and nothing changes")
    func deadLinks() async throws {
        try await withPortal { app in
            let clock = MovableClock()
            app.clock = clock
            let cast = try await OrganizationCast.make(app)
            let expiring = try await cast.invitation("late@example.com")
            let withdrawn = try await cast.invitation("gone@example.com")
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(withdrawn.invitation.id)", as: "admin")
                    .status == .noContent
            )
            clock.advance(by: 7 * 86_400 + 1)
            let browser = Browser(app: app)
            let expired = try await browser.get("/invitations/\(expiring.secret)")  // MUT
            #expect(expired.status == .gone && expired.text.contains("Invitation expired"))
            let gone = try await browser.get("/invitations/\(withdrawn.secret)")
            #expect(gone.status == .gone && gone.text.contains("Invitation withdrawn"))
            for path in ["/invitations/\(String(repeating: "A", count: 43))", "/invitations/short", "/invitations/%00"]
            {
                let unknown = try await browser.get(path)
                #expect(unknown.status == .notFound || unknown.status == .badRequest, "\(path): \(unknown.status)")
            }
            #expect(
                try await browser.get("/invitations/\(String(repeating: "A", count: 43))").text.contains(
                    "Invitation not found"
                )
            )
            try await browser.get("/login")
            let post = try await browser.post(
                "/invitations/\(expiring.secret)",
                [("name", "Late"), ("password", Fixtures.password)]
            )
            #expect(post.status == .gone)
            #expect(try await User.find(email: "late@example.com", on: app.db) == nil)
            // Signed in as the invitee, an expired link still changes nothing.
            try await Fixtures(app: app).user("late@example.com", name: "Late")
            try await browser.signIn("late@example.com")
            try await browser.get("/settings/devices")
            #expect(try await browser.post("/invitations/\(expiring.secret)/accept", []).status == .gone)
            #expect(try await membership("late@example.com", cast) == nil)
            #expect(try await cast.auditEvents(.invitationAccepted).isEmpty)
        }
    }

    @Test("an invitation makes a member of its own organization only")
    func ownOrganizationOnly() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("grace@example.com", as: "admin", by: "owner")
            let browser = Browser(app: app)
            try await browser.get("/invitations/\(made.secret)")
            // MUT
            try await browser.post("/invitations/\(made.secret)", [("name", "Grace"), ("password", Fixtures.password)])
            let grace = try #require(try await User.find(email: "grace@example.com", on: app.db))
            let memberships = try await Membership.query(on: app.db).filter(\.$user.$id == grace.requireID()).with(
                \.$role
            ).all()
            #expect(memberships.map(\.$organization.id) == [cast.acme.id])
            #expect(memberships.map(\.role.name) == ["admin"])
            #expect(try await browser.get("/orgs/globex/members").status == .notFound)
        }
    }

    @Test("accepting without a session goes back to the page; without the CSRF token it is refused")
    func acceptNeedsSessionAndCSRF() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let made = try await cast.invitation("grace@example.com")
            let browser = Browser(app: app)
            try await browser.get("/login")
            let anonymous = try await browser.post("/invitations/\(made.secret)/accept", [])
            #expect(
                anonymous.status == .seeOther
                    && anonymous.headers.first(name: .location) == "/invitations/\(made.secret)"
            )
            try await browser.signIn("grace@example.com")
            try await browser.get("/invitations/\(made.secret)")
            let forged = try await browser.post("/invitations/\(made.secret)/accept", [("csrf_token", "")])  // MUT
            #expect(forged.status == .forbidden)
            #expect(try await cast.pendingInvitations().count == 1)
        }
    }
}
