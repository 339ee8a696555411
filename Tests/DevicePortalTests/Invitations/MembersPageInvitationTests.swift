import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("The members page: add or invite, pending invitations")
struct MembersPageInvitationTests {
    private func signedIn(_ who: String, _ app: Application) async throws -> (OrganizationCast, Browser) {
        let cast = try await OrganizationCast.make(app)
        let browser = Browser(app: app)
        try await browser.signIn("\(who)@acme.example")
        try await browser.get("/orgs/acme/members")
        return (cast, browser)
    }

    @Test("inviting shows the link once; the page then lists the invitation, which can be withdrawn there")
    func inviteAndWithdraw() async throws {
        try await withPortal { app in
            app.clock = MovableClock()
            let (cast, browser) = try await signedIn("admin", app)
            // MUT
            let made = try await browser.post("/orgs/acme/members", [("email", "Nia@Example.com"), ("role", "viewer")])
            #expect(made.status == .ok)
            let link = try #require(made.text.firstMatch(of: /value="(http[^"]+\/invitations\/([A-Za-z0-9_-]{43}))"/))
            #expect(try await Invitation.query(on: app.db).first()?.secretHash == OpaqueSecret.hash(String(link.2)))
            #expect(made.text.contains("Invitation made for nia@example.com"))
            let page = try await browser.get("/orgs/acme/members")
            #expect(!page.text.contains(String(link.2)))
            for text in [
                "Pending invitations", "nia@example.com", "Invited by admin@acme.example", "in 7 days", "Withdraw",
            ] {
                #expect(page.text.contains(text), "\(text)")
            }
            let id = try #require(try await cast.pendingInvitations().first?.id)
            let withdrawn = try await browser.post("/orgs/acme/invitations/\(id)/withdraw", [])
            #expect(withdrawn.status == .seeOther)
            #expect(try await cast.pendingInvitations().isEmpty)
            #expect(try await Browser(app: app).get("/invitations/\(link.2)").status == .gone)
            #expect(!(try await browser.get("/orgs/acme/members")).text.contains("Pending invitations"))
        }
    }

    @Test("with mail on, the page says the invitation is on its way by email, and the mail is queued")
    func mailedInvitation() async throws {
        try await withPortal({ $0.mailOn() }) { app in
            let (_, browser) = try await signedIn("admin", app)
            // MUT
            let made = try await browser.post("/orgs/acme/members", [("email", "nia@example.com"), ("role", "viewer")])
            #expect(made.status == .ok)
            #expect(made.text.contains("It is on its way to nia@example.com by email"))
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$recipient == "nia@example.com").count() == 1)
            // An address the portal takes but mail cannot go to is refused, rather than never arriving.
            let unmailable = try await browser.post(
                "/orgs/acme/members",
                [("email", "a,b@example.com"), ("role", "viewer")]
            )
            #expect(unmailable.status == .unprocessableEntity)
            #expect(try await Invitation.query(on: app.db).filter(\.$email == "a,b@example.com").count() == 0)
        }
        try await withPortal { app in
            let (_, browser) = try await signedIn("admin", app)
            let made = try await browser.post("/orgs/acme/members", [("email", "nia@example.com"), ("role", "viewer")])
            #expect(made.text.contains("Send this link to nia@example.com"))
        }
    }

    @Test("an existing account is added at once from the form; a member already there is a 409 page")
    func addExisting() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("admin", app)
            try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let added = try await browser.post(
                "/orgs/acme/members",
                [("email", "grace@example.com"), ("role", "member")]
            )  // MUT
            #expect(added.status == .seeOther && added.headers.first(name: .location) == "/orgs/acme/members")
            #expect(try await browser.get("/orgs/acme/members").text.contains("grace@example.com"))
            let again = try await browser.post(
                "/orgs/acme/members",
                [("email", "grace@example.com"), ("role", "member")]
            )
            #expect(again.status == .conflict && again.text.contains("already a member"))
            #expect(try await cast.pendingInvitations().isEmpty)
        }
    }

    @Test("the form offers only the roles its user may grant; forged choices and bad emails are refused")
    func roleChoices() async throws {
        try await withPortal { app in
            let (cast, admin) = try await signedIn("admin", app)
            let adminPage = try await admin.get("/orgs/acme/members")
            let adminRoles = roleChoices(adminPage.text)
            #expect(adminRoles == ["admin", "member", "viewer"])
            // MUT
            let forged = try await admin.post("/orgs/acme/members", [("email", "x@example.com"), ("role", "owner")])
            #expect(forged.status == .forbidden)
            #expect(
                try await admin.post("/orgs/acme/members", [("email", "nope"), ("role", "member")]).status
                    == .unprocessableEntity
            )
            #expect(
                try await admin.post("/orgs/acme/members", [("email", "x@example.com"), ("role", "boss")]).status
                    == .unprocessableEntity
            )
            #expect(try await cast.pendingInvitations().isEmpty)

            let owner = Browser(app: app)
            try await owner.signIn("owner@acme.example")
            #expect(
                roleChoices(try await owner.get("/orgs/acme/members").text) == ["owner", "admin", "member", "viewer"]
            )
            let viewer = Browser(app: app)
            try await viewer.signIn("viewer@acme.example")
            let viewerPage = try await viewer.get("/orgs/acme/members")
            #expect(!viewerPage.text.contains("Add or invite"))
            #expect(
                try await viewer.post("/orgs/acme/members", [("email", "x@example.com"), ("role", "viewer")]).status
                    == .forbidden
            )
        }
    }

    /// The options of the add-or-invite form's role select.
    private func roleChoices(_ html: String) -> [String] {
        guard let select = html.firstMatch(of: /<select id="new-role" name="role">(.*?)<\/select>/.dotMatchesNewlines())
        else { return [] }
        return select.1.matches(of: /<option value="([a-z-]+)"/).map { String($0.1) }
    }
}
