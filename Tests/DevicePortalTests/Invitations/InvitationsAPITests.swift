import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

private typealias InvitationList = OrganizationsAPIController.Items<InvitationDTO>
private typealias MemberList = OrganizationsAPIController.Items<OrganizationsAPIController.MemberDTO>

extension OrganizationCast {
    /// `POST /api/orgs/acme/{route}` with `{"email", "role"}` as `who`.
    func add(
        _ email: String,
        as role: String,
        by who: String,
        route: String = "members"
    ) async throws
        -> TestingHTTPResponse
    {
        try await call(.POST, "/api/orgs/acme/\(route)", as: who, json: #"{"email": "\#(email)", "role": "\#(role)"}"#)
    }

    /// An invitation made through the API: its answer, with the link's secret.
    func invitation(
        _ email: String,
        as role: String = "member",
        by who: String = "admin"
    ) async throws
        -> (invitation: InvitationDTO, secret: String)
    {
        let response = try await add(email, as: role, by: who, route: "invitations")
        let invitation = try response.decoded(as: InvitationsAPIController.InvitationAnswer.self).invitation
        let url = try #require(invitation.url)
        return (invitation, String(url.split(separator: "/").last!))
    }

    func pendingInvitations(as who: String = "admin") async throws -> [InvitationDTO] {
        try await call(.GET, "/api/orgs/acme/invitations", as: who).decoded(as: InvitationList.self).items
    }

    func invitationRows() async throws -> [Invitation] {
        try await Invitation.query(on: app.db).all()
    }
}

@Suite("Invitations API: adding and inviting")
struct InvitationsAPITests {
    @Test("an existing account becomes a member at once: 201 with the member, audited member.added")
    func addsExistingAccount() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let grace = try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let response = try await cast.add("  Grace@Example.COM ", as: "viewer", by: "admin")  // MUT
            #expect(response.status == .created)
            let member = try response.decoded(as: OrganizationsAPIController.MemberDTO.self)
            #expect(member.user.id == grace.id && member.role == "viewer" && member.activeTokens == 0)
            let listed = try await cast.call(.GET, "/api/orgs/acme/members", as: "viewer").decoded(as: MemberList.self)
            #expect(listed.items.contains { $0.user.email == "grace@example.com" && $0.role == "viewer" })
            let added = try await cast.auditEvents(.memberAdded).filter { $0.subjectUserID == grace.id }
            #expect(added.count == 1 && added.first?.actor == "admin@acme.example")
            #expect(try await cast.invitationRows().isEmpty)
        }
    }

    @Test("anyone else gets an invitation: the link once, 7 days, only its hash stored, audited member.invited")
    func invitesNewEmail() async throws {
        try await withPortal { app in
            let clock = MovableClock()
            app.clock = clock
            let cast = try await OrganizationCast.make(app)
            let response = try await cast.add("New.Person@Example.com", as: "member", by: "admin")  // MUT
            #expect(response.status == .created)
            let invitation = try response.decoded(as: InvitationsAPIController.InvitationAnswer.self).invitation
            #expect(invitation.email == "new.person@example.com")
            #expect(invitation.role == "member" && invitation.invitedBy == "admin@acme.example")
            #expect(invitation.createdAt == clock.now.formatted(.iso8601))
            #expect(invitation.expiresAt == clock.now.addingTimeInterval(7 * 86_400).formatted(.iso8601))
            let url = try #require(invitation.url)
            #expect(url.hasPrefix(app.publicBaseURL + "/invitations/"))
            let secret = String(url.dropFirst((app.publicBaseURL + "/invitations/").count))
            #expect(InvitationLink.isWellFormed(secret))

            let rows = try await cast.invitationRows()
            #expect(rows.count == 1 && rows[0].secretHash == OpaqueSecret.hash(secret))
            #expect(rows[0].secretHash != secret)
            let listed = try await cast.pendingInvitations(as: "viewer")
            #expect(listed.map(\.id) == [invitation.id] && listed[0].url == nil)
            #expect(!(try await cast.call(.GET, "/api/orgs/acme/invitations", as: "admin").text.contains(secret)))
            #expect(try await User.find(email: "new.person@example.com", on: app.db) == nil)
            let invited = try await cast.auditEvents(.memberInvited)
            #expect(invited.count == 1 && invited[0].subject == "new.person@example.com")
            #expect(!invited[0].details.contains(secret))
        }
    }

    @Test("POST …/invitations invites even an existing account; a second invitation replaces the first")
    func inviteAlwaysInvitesAndReplaces() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let grace = try await Fixtures(app: app).user("grace@example.com", name: "Grace")
            let first = try await cast.invitation("grace@example.com", as: "viewer")  // MUT
            #expect(
                try await Membership.find(userID: grace.requireID(), organizationID: cast.acme.requireID(), on: app.db)
                    == nil
            )
            let second = try await cast.invitation("GRACE@example.com", as: "member")
            let pending = try await cast.pendingInvitations()
            #expect(pending.map(\.id) == [second.invitation.id] && pending[0].role == "member")
            let old = try #require(try await Invitation.find(first.invitation.id, on: app.db))
            #expect(old.withdrawnAt != nil)
            let withdrawn = try await cast.auditEvents(.invitationWithdrawn)
            #expect(withdrawn.count == 1 && withdrawn[0].details.contains(#""reason":"replaced""#))
        }
    }

    @Test("an email that is already a member: 409, and nothing changes")
    func duplicateMember() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            for route in ["members", "invitations"] {
                let response = try await cast.add("Viewer@acme.example", as: "admin", by: "owner", route: route)  // MUT
                #expect(response.status == .conflict, "\(route)")
                #expect(try response.oauthError == "conflict")
            }
            #expect(try await cast.invitationRows().isEmpty)
            let viewer = try await Membership.find(
                userID: cast.users["viewer"]!.requireID(),
                organizationID: cast.acme.requireID(),
                on: app.db
            )
            #expect(viewer?.role.name == "viewer")
        }
    }

    @Test("no escalation: nobody grants a permission they lack, and only owners invite or add owners")
    func escalation() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let hr = try await cast.call(
                .POST,
                "/api/orgs/acme/roles",
                as: "owner",
                json: #"{"name": "hr", "permissions": ["members:read", "members:manage", "queries:read"]}"#
            )
            #expect(hr.status == .created)
            let fixtures = Fixtures(app: app)
            let hrUser = try await fixtures.user("hr@acme.example", name: "Hanna")
            try await fixtures.member(hrUser, of: cast.acme, as: "hr")
            let hrCast = OrganizationCast(
                app: app,
                acme: cast.acme,
                globex: cast.globex,
                users: cast.users,
                tokens: cast.tokens.merging(
                    [
                        "hr": try await fixtures.token(
                            for: hrUser,
                            in: cast.acme,
                            client: try await fixtures.client("hr-app")
                        )
                    ],
                    uniquingKeysWith: { a, _ in a }
                )
            )
            for route in ["members", "invitations"] {
                // MUT
                #expect(try await hrCast.add("x@example.com", as: "admin", by: "hr", route: route).status == .forbidden)
                #expect(
                    try await hrCast.add("x@example.com", as: "member", by: "hr", route: route).status == .forbidden
                )
                #expect(
                    try await cast.add("x@example.com", as: "owner", by: "admin", route: route).status == .forbidden
                )
                #expect(
                    try await cast.add("x@example.com", as: "admin", by: "member", route: route).status == .forbidden
                )
                #expect(
                    try await cast.add("x@example.com", as: "viewer", by: "viewer", route: route).status == .forbidden
                )
            }
            #expect(try await cast.invitationRows().isEmpty)
            #expect(try await hrCast.add("x@example.com", as: "viewer", by: "hr").status == .created)
            #expect(try await cast.add("y@example.com", as: "owner", by: "owner").status == .created)
            let ownerInvitation = try #require(try await cast.pendingInvitations().first { $0.role == "owner" })
            // Taking an owner's invitation back, or replacing it, takes an owner too.
            let withdraw = try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(ownerInvitation.id)", as: "admin")
            #expect(withdraw.status == .forbidden)
            #expect(
                try await cast.add("y@example.com", as: "member", by: "admin", route: "invitations").status
                    == .forbidden
            )
            #expect(try await cast.pendingInvitations().count == 2)
        }
    }

    @Test("another organization's credential is refused, and never sees or withdraws this one's invitations")
    func otherOrganization() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("new@example.com")
            #expect(try await cast.add("z@example.com", as: "member", by: "globex").status == .forbidden)  // MUT
            #expect(try await cast.call(.GET, "/api/orgs/acme/invitations", as: "globex").status == .forbidden)
            let foreign = try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(made.invitation.id)", as: "globex")
            #expect(foreign.status == .forbidden)
            let own = try await cast.call(.DELETE, "/api/orgs/globex/invitations/\(made.invitation.id)", as: "globex")
            #expect(own.status == .notFound)
            let listed = try await cast.call(.GET, "/api/orgs/globex/invitations", as: "globex")
                .decoded(as: InvitationList.self)
            #expect(listed.items.isEmpty)
            #expect(try await cast.pendingInvitations().count == 1)
        }
    }

    @Test(
        "bad bodies get 400, 415 or 422 with a message and change nothing",
        arguments: [
            (#"{"email": "not-an-email", "role": "member"}"#, "application/json", 422),
            (#"{"email": "a@b.example", "role": "nope"}"#, "application/json", 422),
            (#"{"email": "a@b.example", "role": "member", "extra": 1}"#, "application/json", 422),
            (#"{"email": "a@b.example"}"#, "application/json", 422),
            (#"{"email": 7, "role": "member"}"#, "application/json", 400),
            (#"{"email": "a@b.example", "role": "member""#, "application/json", 400),
            (#"{"email": "a\u0000@b.example", "role": "member"}"#, "application/json", 400),
            (#"{"email": "a@b.example", "role": "member"}"#, "text/plain", 415),
        ]
    )
    func badBodies(body: String, contentType: String, status: Int) async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            for route in ["members", "invitations"] {
                let response = try await cast.call(
                    .POST,
                    "/api/orgs/acme/\(route)",
                    as: "admin",
                    json: body,
                    contentType: contentType
                )  // MUT
                #expect(response.status.code == UInt(status), "\(route) \(body): \(response.status) \(response.text)")
                #expect(!(try response.oauthError).isEmpty)
            }
            #expect(try await cast.invitationRows().isEmpty)
            #expect(try await cast.auditEvents(.memberInvited).isEmpty)
        }
    }

    @Test("withdrawing: 204, gone from the list, audited; again or unknown: 404")
    func withdraw() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("new@example.com")
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(made.invitation.id)", as: "member").status
                    == .forbidden
            )
            // MUT
            let response = try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(made.invitation.id)", as: "admin")
            #expect(response.status == .noContent)
            #expect(try await cast.pendingInvitations().isEmpty)
            let withdrawn = try await cast.auditEvents(.invitationWithdrawn)
            #expect(withdrawn.count == 1 && withdrawn[0].subject == "new@example.com")
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(made.invitation.id)", as: "admin").status
                    == .notFound
            )
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(UUID())", as: "admin").status == .notFound
            )
            #expect(try await cast.call(.DELETE, "/api/orgs/acme/invitations/nope", as: "admin").status == .notFound)
        }
    }

    @Test("after 7 days an invitation is no longer pending and cannot be withdrawn")
    func expiry() async throws {
        try await withPortal { app in
            let clock = MovableClock()
            app.clock = clock
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("new@example.com")
            clock.advance(by: 7 * 86_400 - 1)
            #expect(try await cast.pendingInvitations().count == 1)
            clock.advance(by: 1)  // MUT
            #expect(try await cast.pendingInvitations().isEmpty)
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/invitations/\(made.invitation.id)", as: "admin").status
                    == .notFound
            )
            // A new invitation to the same email replaces the expired one.
            #expect(try await cast.add("new@example.com", as: "member", by: "admin").status == .created)
            #expect(try await cast.pendingInvitations().count == 1)
        }
    }

    @Test("the request log never shows an invitation link's secret")
    func redactedInLogs() {
        let secret = OpaqueSecret.base64URL()
        #expect(InvitationLink.redacted("/invitations/\(secret)") == "/invitations/[secret]")  // MUT
        #expect(InvitationLink.redacted("/invitations/\(secret)/accept") == "/invitations/[secret]/accept")
        #expect(InvitationLink.redacted("/orgs/acme/invitations/x/withdraw") == "/orgs/acme/invitations/x/withdraw")
        for path in ["//invitations/\(secret)", "/invitations//\(secret)", "/invitations/\(secret)/"] {
            #expect(!InvitationLink.redacted(path).contains(secret), "\(path)")
        }
        #expect(InvitationLink.isWellFormed(secret) && !InvitationLink.isWellFormed(secret + "A"))
    }
}
