import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// Offboarding from the directory: access ends on the very next request, and coming back
/// never brings an old token back.
@Suite("SCIM deprovisioning revokes the member's tokens in the same transaction")
struct SCIMDeprovisioningTests {
    enum Deactivation: String, CaseIterable {
        case patchWithoutPath, patchWithPath, patchEntraStyle, replace, delete
    }

    @Test(
        "each way the directory ends a membership: /me answers 401 at once, another org's token still works",
        arguments: Deactivation.allCases
    )
    func deactivation(_ how: Deactivation) async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, client) = try await fixtures.standardCast(role: "member")
            let owner = try await fixtures.user("owner@example.com", name: "Olive")
            try await fixtures.member(owner, of: acme, as: "owner")
            let globex = try await fixtures.organization("globex", name: "Globex")
            try await fixtures.member(ada, of: globex)
            let acmeToken = try await fixtures.token(for: ada, in: acme, client: client)
            let globexToken = try await fixtures.token(for: ada, in: globex, client: client)
            let desktop = DesktopApp(app: app)
            let approved = try await desktop.decidedCode()  // approved for acme, not exchanged yet
            #expect(try await desktop.me(acmeToken).status == .ok)
            let directory = try await DirectoryClient.of(acme, app)
            let id = try ada.requireID().uuidString

            let response: TestingHTTPResponse
            switch how {  // MUT
            case .patchWithoutPath:
                response = try await directory.patch(id, #"{"op": "replace", "value": {"active": false}}"#)
            case .patchWithPath:
                response = try await directory.patch(id, #"{"op": "replace", "path": "active", "value": false}"#)
            case .patchEntraStyle:
                response = try await directory.patch(id, #"{"op": "Replace", "path": "active", "value": "False"}"#)
            case .replace:
                response = try await directory.call(
                    .PUT,
                    "/Users/\(id)",
                    json: #"{"userName": "ada@example.com", "active": false}"#
                )
            case .delete:
                response = try await directory.call(.DELETE, "/Users/\(id)")
            }
            #expect(response.status == (how == .delete ? .noContent : .ok), "\(response.text)")

            let me = try await desktop.me(acmeToken)
            #expect(me.status == .unauthorized)
            #expect(try me.oauthError == "invalid_token")
            #expect(try await desktop.me(globexToken).status == .ok)
            #expect(try await desktop.poll(approved.deviceCode).oauthError == "access_denied")
            let revoked = try #require(
                try await APIToken.query(on: app.db).filter(\.$organization.$id == acme.requireID()).first()
            )
            #expect(revoked.revokedAt != nil && revoked.revokedReason == .memberRemoved)
            #expect(
                try await Membership.find(userID: ada.requireID(), organizationID: acme.requireID(), on: app.db) == nil
            )
            let removed = try await AuditEvent.query(on: app.db).filter(\.$kind == .memberRemoved).all()
            #expect(removed.map(\.actor) == ["directory"])
            #expect(
                removed.first?.details.contains(#""revoked_tokens":"1""#) == true,
                "\(removed.first?.details ?? "")"
            )

            if how != .delete {
                let user = try await directory.call(.GET, "/Users/\(id)").scimUser()
                #expect(user.active == false, "a deactivated User stays addressable by its id")
                if how != .replace {  // a PUT replaces them; a PATCH of active keeps what the directory saw
                    #expect(user.name?.formatted == "Ada" && user.emails?.map(\.value) == ["ada@example.com"])
                }
                let listed = try await directory.call(.GET, "/Users?filter=userName%20eq%20%22ada@example.com%22")
                    .scimList()
                #expect(listed.resources.map(\.active) == [false])
            }
        }
    }

    @Test("re-activation makes a new membership with the default role and revives no token")
    func reactivation() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, client) = try await fixtures.standardCast(role: "admin")
            let owner = try await fixtures.user("owner@example.com", name: "Olive")
            try await fixtures.member(owner, of: acme, as: "owner")
            let oldToken = try await fixtures.token(for: ada, in: acme, client: client)
            let directory = try await DirectoryClient.of(acme, app)
            let id = try ada.requireID().uuidString
            _ = try await directory.patch(id, #"{"op": "replace", "value": {"active": false}}"#).scimUser()

            let back = try await directory.patch(id, #"{"op": "replace", "value": {"active": true}}"#)  // MUT
            #expect(try back.scimUser().active)
            let membership = try #require(
                try await Membership.find(userID: ada.requireID(), organizationID: acme.requireID(), on: app.db)
            )
            #expect(membership.role.name == "member", "the default role, not the admin role held before")
            let desktop = DesktopApp(app: app)
            #expect(try await desktop.me(oldToken).status == .unauthorized)
            // A new sign-in works.
            let newToken = try await fixtures.token(for: ada, in: acme, client: client)
            #expect(try await desktop.me(newToken).status == .ok)
            // Activating an active User changes nothing.
            _ = try await directory.patch(id, #"{"op": "replace", "path": "active", "value": true}"#).scimUser()
            #expect(try await Membership.query(on: app.db).filter(\.$user.$id == ada.requireID()).count() == 1)
            #expect(
                try await AuditEvent.query(on: app.db).filter(\.$kind == .memberAdded).filter(\.$actor == "directory")
                    .count() == 1
            )
        }
    }

    @Test("a member removed on the members page stays a User of the directory that provisioned them, active false")
    func removedElsewhere() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let grace = try await directory.create("grace@example.com").scimUser()
            let user = try #require(try await User.find(email: "grace@example.com", on: app.db))
            try await Fixtures(app: app).remove(user, from: acme)  // MUT
            #expect(try await directory.call(.GET, "/Users/\(grace.id)").scimUser().active == false)
        }
    }
}
