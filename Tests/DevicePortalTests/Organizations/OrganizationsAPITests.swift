import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

private typealias MemberList = OrganizationsAPIController.Items<OrganizationsAPIController.MemberDTO>
private typealias RoleList = OrganizationsAPIController.Items<OrganizationsAPIController.RoleDTO>

@Suite("The organizations API: who may do what")
struct OrganizationsAPIPermissionTests {
    /// One route, who calls it, and the status they get. Targets: `member` is changed or
    /// removed, so the caller is never acting on themselves (except where noted).
    struct Case: CustomStringConvertible, Sendable {
        let method: HTTPMethod
        let path: String
        let json: String?
        let expected: [String: HTTPStatus]
        var description: String { "\(method) \(path)" }
    }

    static let cases: [Case] = [
        Case(
            method: .GET,
            path: "members",
            json: nil,
            expected: ["owner": .ok, "admin": .ok, "member": .ok, "viewer": .ok]
        ),
        Case(
            method: .PUT,
            path: "members/{viewer}",
            json: #"{"role": "viewer"}"#,
            expected: ["owner": .ok, "admin": .ok, "member": .forbidden]
        ),
        Case(
            method: .DELETE,
            path: "members/{viewer}",
            json: nil,
            expected: ["owner": .ok, "admin": .ok, "member": .forbidden]
        ),
        Case(
            method: .DELETE,
            path: "members/{viewer}/tokens",
            json: nil,
            expected: ["owner": .ok, "admin": .ok, "member": .forbidden, "viewer": .forbidden]
        ),
        Case(
            method: .GET,
            path: "roles",
            json: nil,
            expected: ["owner": .ok, "admin": .ok, "member": .forbidden, "viewer": .forbidden]
        ),
        Case(
            method: .POST,
            path: "roles",
            json: #"{"name": "analyst", "permissions": ["queries:read"]}"#,
            expected: ["owner": .created, "admin": .created, "member": .forbidden]
        ),
        Case(
            method: .GET,
            path: "settings",
            json: nil,
            expected: ["owner": .ok, "admin": .forbidden, "member": .forbidden]
        ),
        Case(
            method: .PUT,
            path: "settings",
            json: #"{"device_signin": false, "token_ttl": 3600}"#,
            expected: ["owner": .ok, "admin": .forbidden, "viewer": .forbidden]
        ),
        Case(
            method: .GET,
            path: "audit",
            json: nil,
            expected: ["owner": .ok, "admin": .ok, "member": .forbidden, "viewer": .forbidden]
        ),
    ]

    @Test("each role gets what the contract says; a credential of another org gets 403", arguments: cases)
    func matrix(route: Case) async throws {
        for (caller, status) in route.expected.sorted(by: { $0.key < $1.key }) {
            try await withPortal { app in
                let cast = try await OrganizationCast.make(app)
                let path = "/api/orgs/acme/" + route.path.replacingOccurrences(of: "{viewer}", with: cast.id("viewer"))
                let response = try await cast.call(route.method, path, as: caller, json: route.json)  // MUT
                #expect(response.status == status, "\(caller): \(route) → \(response.status) \(response.text)")
                if status == .forbidden, route.path == "settings" {
                    #expect(try response.oauthError == "forbidden")  // owners only: no permission names it
                } else if status == .forbidden {
                    // RFC 6750 §3.1: the role lacks the permission the route needs.
                    #expect(try response.oauthError == "insufficient_scope")
                    #expect(response.headers.first(name: .wwwAuthenticate)?.contains("insufficient_scope") == true)
                }

                let foreign = try await cast.call(route.method, path, as: "globex", json: route.json)
                #expect(foreign.status == .forbidden, "globex: \(route)")
                let anonymous = try await app.testing().sendRequest(route.method, path)
                #expect(anonymous.status == .unauthorized)
            }
        }
    }

    @Test("only an owner makes, demotes or removes an owner; nobody changes their own role")
    func ownerRules() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let promote = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("member"))",
                as: "admin",
                json: #"{"role": "owner"}"#
            )
            #expect(promote.status == .forbidden)
            let demote = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("owner"))",
                as: "admin",
                json: #"{"role": "member"}"#
            )
            #expect(demote.status == .forbidden)
            let remove = try await cast.call(.DELETE, "/api/orgs/acme/members/\(cast.id("owner"))", as: "admin")
            #expect(remove.status == .forbidden)
            let own = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("admin"))",
                as: "admin",
                json: #"{"role": "owner"}"#
            )
            #expect(own.status == .forbidden)
            let ownAsOwner = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("owner"))",
                as: "owner",
                json: #"{"role": "admin"}"#
            )
            #expect(ownAsOwner.status == .forbidden)

            let byOwner = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("admin"))",
                as: "owner",
                json: #"{"role": "owner"}"#
            )
            #expect(byOwner.status == .ok)
            #expect(try byOwner.decoded(as: OrganizationsAPIController.MemberDTO.self).role == "owner")
            // Two owners now: the first can step the second down again.
            let back = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("admin"))",
                as: "owner",
                json: #"{"role": "admin"}"#
            )
            #expect(back.status == .ok)
            #expect(try await cast.auditEvents(.roleChanged).count == 2)
        }
    }

    @Test("the last owner cannot be demoted or removed, even by the command line: 409")
    func lastOwner() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let admin = try Administrator.commandLine(in: cast.acme)
            let ownerID = try cast.users["owner"]!.requireID()
            let viewer = try #require(try await Role.find(named: "viewer", in: cast.acme.requireID(), on: app.db))
            for attempt in [
                { try await MemberAdministration.setRole(of: ownerID, to: viewer, by: admin, on: app.db) },
                { _ = try await MemberAdministration.remove(ownerID, by: admin, on: app.db) },
            ] {
                do {
                    try await attempt()
                    Issue.record("the last owner went")
                } catch let error as AdminError {
                    #expect(error.status == .conflict)
                }
            }
        }
    }

    @Test("two owners demoting each other at the same moment leave one owner: the organization lock decides")
    func concurrentDemotions() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let second = try await Fixtures(app: app).user("second@acme.example")
            try await Fixtures(app: app).member(second, of: cast.acme, as: "owner")
            let admin = try #require(try await Role.find(named: "admin", in: cast.acme.requireID(), on: app.db))
            let owners = [try cast.users["owner"]!.requireID(), try second.requireID()]
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for (actor, target) in [(owners[0], owners[1]), (owners[1], owners[0])] {
                    group.addTask {
                        let caller = Administrator(
                            userID: actor,
                            organizationID: cast.acme.id!,
                            permissions: Set(Permission.allCases),
                            isOwner: true,
                            audit: .commandLine
                        )
                        // MUT
                        return (try? await MemberAdministration.setRole(of: target, to: admin, by: caller, on: app.db))
                            != nil
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            let remaining = try await MemberAdministration.members(of: cast.acme.requireID(), on: app.db)
            #expect(remaining.filter { $0.role == "owner" }.count == 1)
        }
    }

    @Test("no escalation: a role without a permission cannot grant it, nor put it in a role")
    func noEscalation() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let lead = Role(
                name: "lead",
                permissions: [.membersRead, .membersManage, .rolesManage],
                organizationID: cast.acme.id
            )
            try await lead.create(on: app.db)
            try await Fixtures(app: app).setRole(of: cast.users["admin"]!, in: cast.acme, to: lead)
            // "member" holds queries:run, which a lead lacks.
            let grant = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("viewer"))",
                as: "admin",
                json: #"{"role": "member"}"#
            )  // MUT
            #expect(grant.status == .forbidden)
            let create = try await cast.call(
                .POST,
                "/api/orgs/acme/roles",
                as: "admin",
                json: #"{"name": "runner", "permissions": ["queries:run"]}"#
            )
            #expect(create.status == .forbidden)
            let widen = try await cast.call(
                .PUT,
                "/api/orgs/acme/roles/lead",
                as: "admin",
                json: #"{"permissions": ["members:manage", "audit:read"]}"#
            )
            #expect(widen.status == .forbidden)
            let within = try await cast.call(
                .POST,
                "/api/orgs/acme/roles",
                as: "admin",
                json: #"{"name": "helper", "permissions": ["members:read"]}"#
            )
            #expect(within.status == .created)
            let membership = try await Membership.find(
                userID: cast.users["viewer"]!.requireID(),
                organizationID: cast.acme.requireID(),
                on: app.db
            )
            #expect(membership?.role.name == "viewer")
        }
    }

    @Test("a role change by someone without the right is 403 before the body is looked at")
    func permissionBeforeBody() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let path = "/api/orgs/acme/members/\(cast.id("viewer"))"
            #expect(
                try await cast.call(.PUT, path, as: "member", json: #"{"role": "no-such-role"}"#).status == .forbidden
            )
        }
    }

    @Test("rights are read again inside the locked transaction: an owner demoted a moment ago cannot act as one")
    func staleAdministrator() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let second = try await Fixtures(app: app).user("second@acme.example")
            try await Fixtures(app: app).member(second, of: cast.acme, as: "owner")
            // What the guard saw: the admin user as an owner, with every permission.
            let stale = Administrator(
                userID: try cast.users["admin"]!.requireID(),
                organizationID: try cast.acme.requireID(),
                permissions: Set(Permission.allCases),
                isOwner: true,
                audit: .commandLine
            )
            let viewer = try #require(try await Role.find(named: "viewer", in: cast.acme.requireID(), on: app.db))
            do {
                // MUT
                try await MemberAdministration.setRole(of: second.requireID(), to: viewer, by: stale, on: app.db)
                Issue.record("a stale owner demoted an owner")
            } catch let error as AdminError {
                #expect(error.status == .forbidden)
            }
            let membership = try await Membership.find(
                userID: second.requireID(),
                organizationID: cast.acme.requireID(),
                on: app.db
            )
            #expect(membership?.role.name == "owner")
        }
    }

    @Test("bad bodies get 4xx with a message and change nothing")
    func badBodies() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let path = "/api/orgs/acme/members/\(cast.id("viewer"))"
            let cases: [(String, String, HTTPStatus)] = [
                (#"{"role": "viewer"}"#, "text/plain", .unsupportedMediaType),
                (#"{"role": "#, "application/json", .badRequest),
                (#"["viewer"]"#, "application/json", .badRequest),
                (#"{"role": 5}"#, "application/json", .badRequest),
                (#"{"role": "viewer", "admin": true}"#, "application/json", .unprocessableEntity),
                (#"{}"#, "application/json", .unprocessableEntity),
                (#"{"role": "emperor"}"#, "application/json", .unprocessableEntity),
            ]
            for (json, contentType, status) in cases {
                // MUT
                let response = try await cast.call(.PUT, path, as: "owner", json: json, contentType: contentType)
                #expect(response.status == status, "\(json) \(contentType)")
                #expect(try !response.oauthErrorBody.errorDescription.isEmpty, "\(json) \(contentType)")
            }
            let huge = #"{"role": ""# + String(repeating: "x", count: 20_000) + #""}"#
            let tooLarge = try await cast.call(.PUT, path, as: "owner", json: huge)
            #expect(tooLarge.status == .payloadTooLarge, "\(tooLarge.status) \(tooLarge.text)")
            let unknown = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(UUID())",
                as: "owner",
                json: #"{"role": "viewer"}"#
            )
            #expect(unknown.status == .notFound)
            let notAnID = try await cast.call(.DELETE, "/api/orgs/acme/members/not-an-id", as: "owner")
            #expect(notAnID.status == .notFound)
            let membership = try await Membership.find(
                userID: cast.users["viewer"]!.requireID(),
                organizationID: cast.acme.requireID(),
                on: app.db
            )
            #expect(membership?.role.name == "viewer")
            #expect(try await cast.auditEvents(.roleChanged).isEmpty)
        }
    }
}

@Suite("The organizations API: what each action does")
struct OrganizationsAPIEffectTests {
    @Test("members list roles and live token counts")
    func members() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let response = try await cast.call(.GET, "/api/orgs/acme/members", as: "viewer")
            let items = try response.decoded(as: MemberList.self)
                .items
            #expect(items.count == 4)
            let owner = try #require(items.first { $0.user.email == "owner@acme.example" })
            #expect(owner.user.id == cast.users["owner"]?.id)
            #expect(owner.role == "owner")
            #expect(owner.activeTokens == 1)
        }
    }

    @Test("removing a member revokes their tokens in that org at once, says how many, and audits it once")
    func removal() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            // MUT
            let response = try await cast.call(.DELETE, "/api/orgs/acme/members/\(cast.id("member"))", as: "admin")
            #expect(response.status == .ok)
            #expect(try response.decoded(as: OrganizationsAPIController.RevokedTokens.self).revokedTokens == 1)
            #expect(try await DesktopApp(app: app).me(cast.tokens["member"]!).status == .unauthorized)
            let events = try await cast.auditEvents(.memberRemoved)
            #expect(events.count == 1)
            #expect(events.first?.actor == "admin@acme.example")
            #expect(events.first?.subject == "member@acme.example")
            #expect(events.first?.details == #"{"revoked_tokens":"1"}"#)

            try await Fixtures(app: app).member(cast.users["member"]!, of: cast.acme)
            #expect(try await DesktopApp(app: app).me(cast.tokens["member"]!).status == .unauthorized)
        }
    }

    @Test("revoking a member's tokens keeps the membership")
    func revokeTokens() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let response = try await cast.call(
                .DELETE,
                "/api/orgs/acme/members/\(cast.id("viewer"))/tokens",
                as: "owner"
            )
            #expect(try response.decoded(as: OrganizationsAPIController.RevokedTokens.self).revokedTokens == 1)
            #expect(try await DesktopApp(app: app).me(cast.tokens["viewer"]!).status == .unauthorized)
            let members = try await cast.call(.GET, "/api/orgs/acme/members", as: "owner")
                .decoded(as: MemberList.self).items
            #expect(members.count == 4)
            #expect(try await cast.auditEvents(.tokenRevoked).count == 1)
        }
    }

    @Test("custom roles: create, rename, change, and delete only when nobody holds them")
    func roles() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let roles = "/api/orgs/acme/roles"
            let created = try await cast.call(
                .POST,
                roles,
                as: "owner",
                json: #"{"name": "analyst", "permissions": ["queries:read"]}"#
            )
            #expect(created.status == .created)
            let analyst = try created.decoded(as: OrganizationsAPIController.RoleDTO.self)
            #expect(analyst.name == "analyst")
            #expect(analyst.permissions == ["queries:read"])
            let duplicate = try await cast.call(
                .POST,
                roles,
                as: "owner",
                json: #"{"name": "analyst", "permissions": []}"#
            )
            #expect(duplicate.status == .conflict)
            for bad in [
                #"{"name": "Analyst", "permissions": []}"#, #"{"name": "admin", "permissions": []}"#,
                #"{"name": "ok", "permissions": ["root:all"]}"#,
            ] {
                #expect(
                    try await cast.call(.POST, roles, as: "owner", json: bad).status == .unprocessableEntity,
                    "\(bad)"
                )
            }
            #expect(
                try await cast.call(.PUT, "\(roles)/admin", as: "owner", json: #"{"permissions": []}"#).status
                    == .forbidden
            )
            #expect(
                try await cast.call(.PUT, "\(roles)/nothing", as: "owner", json: #"{"permissions": []}"#).status
                    == .notFound
            )

            let assign = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("viewer"))",
                as: "owner",
                json: #"{"role": "analyst"}"#
            )
            #expect(assign.status == .ok)
            let renamed = try await cast.call(
                .PUT,
                "\(roles)/analyst",
                as: "owner",
                json: #"{"name": "reader", "permissions": ["queries:read", "audit:read"]}"#
            )
            #expect(renamed.status == .ok)
            let role = try await DesktopApp(app: app).me(cast.tokens["viewer"]!).decoded(as: MeController.Me.self).role
            #expect(role.name == "reader")
            #expect(role.permissions == ["audit:read", "queries:read"])

            let held = try await cast.call(.DELETE, "\(roles)/reader", as: "owner")
            #expect(held.status == .conflict)
            let freed = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("viewer"))",
                as: "owner",
                json: #"{"role": "viewer"}"#
            )
            #expect(freed.status == .ok)
            #expect(try await cast.call(.DELETE, "\(roles)/reader", as: "owner").status == .noContent)
            let list = try await cast.call(.GET, roles, as: "owner")
                .decoded(as: RoleList.self).items
            #expect(list.map(\.name) == ["owner", "admin", "member", "viewer"])
            #expect(try await cast.auditEvents(.roleCreated).count == 1)
            #expect(try await cast.auditEvents(.roleUpdated).count == 1)
            #expect(try await cast.auditEvents(.roleDeleted).count == 1)
        }
    }

    @Test("org policy: device sign-in off takes the org out of the picker; a shorter token lifetime applies")
    func settings() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let settings = "/api/orgs/acme/settings"
            let initial = try await cast.call(.GET, settings, as: "owner")
            let policy = try initial.decoded(as: OrganizationSettings.Settings.self)
            #expect(policy.deviceSignIn)
            #expect(policy.tokenTTL == nil)
            #expect(!initial.text.contains("token_ttl"))  // left out, not null
            let tooLong = try await cast.call(
                .PUT,
                settings,
                as: "owner",
                json: #"{"device_signin": true, "token_ttl": 99999999}"#
            )
            #expect(tooLong.status == .unprocessableEntity)
            let missing = try await cast.call(.PUT, settings, as: "owner", json: #"{"token_ttl": 3600}"#)
            #expect(missing.status == .unprocessableEntity)
            let updated = try await cast.call(
                .PUT,
                settings,
                as: "owner",
                json: #"{"device_signin": false, "token_ttl": 3600}"#
            )
            #expect(updated.status == .ok)
            let changed = try updated.decoded(as: OrganizationSettings.Settings.self)
            #expect(!changed.deviceSignIn)
            #expect(changed.tokenTTL == 3600)
            let choices = try await OrganizationChoice.forDeviceSignIn(
                userID: cast.users["owner"]!.requireID(),
                on: app.db
            )
            #expect(choices.isEmpty)
            // Existing tokens keep working.
            #expect(try await DesktopApp(app: app).me(cast.tokens["owner"]!).status == .ok)
            #expect(try await cast.auditEvents(.settingsChanged).count == 1)
        }
    }
}
