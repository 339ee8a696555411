import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

private typealias TokenList = OrganizationsAPIController.Items<DirectoryTokenDTO>

/// Directory tokens: owners make them (API, settings page, command line), see them listed
/// without the secret, and revoke them; each is audited.
@Suite("Directory tokens and the org's SCIM default role")
struct DirectoryTokenTests {
    @Test("owners make a token (201, shown once, stored as a hash), list it without the secret, revoke it")
    func api() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.call(.POST, "/api/orgs/acme/scim-tokens", as: "owner")  // MUT
            #expect(made.status == .created)
            let token = try made.decoded(as: DirectoryTokenDTO.self)
            let secret = try #require(token.token)
            #expect(
                secret.hasPrefix("scim_") && DirectoryToken.isShaped(secret) && !OpaqueSecret.isAPITokenShaped(secret)
            )
            #expect(token.createdBy == "owner@acme.example")
            let stored = try #require(try await DirectoryToken.find(token.id, on: app.db))
            #expect(stored.tokenHash == OpaqueSecret.hash(secret))
            #expect(try await databaseContents(app).range(of: Data(secret.utf8)) == nil)

            let listed = try await cast.call(.GET, "/api/orgs/acme/scim-tokens", as: "owner")
            #expect(try listed.decoded(as: TokenList.self).items.map(\.id) == [token.id])
            #expect(!listed.text.contains(secret) && !listed.text.contains("\"token\""))

            let directory = DirectoryClient(app: app, token: secret)
            #expect(try await directory.call(.GET, "/Users").status == .ok)
            let revoked = try await cast.call(.DELETE, "/api/orgs/acme/scim-tokens/\(token.id)", as: "owner")
            #expect(revoked.status == .noContent)
            _ = try await directory.call(.GET, "/Users").scimError(.unauthorized)
            let after = try await cast.call(.GET, "/api/orgs/acme/scim-tokens", as: "owner")
            #expect(try after.decoded(as: TokenList.self).items.first?.revokedAt != nil)

            #expect(try await cast.auditEvents(.directoryTokenCreated).map(\.actor) == ["owner@acme.example"])
            #expect(try await cast.auditEvents(.directoryTokenRevoked).count == 1)
        }
    }

    @Test("only owners, only their own org's tokens: 403 for others, 404 for another org's id")
    func whoMay() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            for caller in ["admin", "member", "viewer"] {
                // MUT
                #expect(try await cast.call(.POST, "/api/orgs/acme/scim-tokens", as: caller).status == .forbidden)
                #expect(try await cast.call(.GET, "/api/orgs/acme/scim-tokens", as: caller).status == .forbidden)
            }
            #expect(try await cast.call(.POST, "/api/orgs/acme/scim-tokens", as: "globex").status == .forbidden)
            let theirs = try await cast.call(.POST, "/api/orgs/globex/scim-tokens", as: "globex")
                .decoded(as: DirectoryTokenDTO.self)
            let foreign = try await cast.call(.DELETE, "/api/orgs/acme/scim-tokens/\(theirs.id)", as: "owner")
            #expect(foreign.status == .notFound)
            #expect(try await cast.call(.DELETE, "/api/orgs/acme/scim-tokens/nope", as: "owner").status == .notFound)
            #expect(try await DirectoryToken.find(theirs.id, on: app.db)?.revokedAt == nil)
            #expect(try await DirectoryToken.query(on: app.db).count() == 1)
        }
    }

    @Test("portal create-scim-token --org S prints a working token once")
    func command() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let output = try await runCommand(app, "create-scim-token", ["--org", "acme"])  // MUT
            let secret = try #require(output.split(separator: "\n").map(String.init).first { $0.hasPrefix("scim_") })
            #expect(try await DirectoryClient(app: app, token: secret).call(.GET, "/Users").status == .ok)
            let events = try await AuditEvent.query(on: app.db).filter(\.$kind == .directoryTokenCreated).all()
            #expect(events.map(\.actor) == ["command line"] && events.first?.organizationID == acme.id)
            #expect(await commandFailure(app, "create-scim-token", ["--org", "nope"]) != nil)
        }
    }

    @Test("a custom default role follows its rename, and cannot be deleted while it is the default")
    func defaultRoleFollowsRenames() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let roles = "/api/orgs/acme/roles"
            let analyst = #"{"name": "analyst", "permissions": ["queries:read"]}"#
            #expect(try await cast.call(.POST, roles, as: "owner", json: analyst).status == .created)
            let settings = #"{"device_signin": true, "token_ttl": null, "scim_default_role": "analyst"}"#
            #expect(try await cast.call(.PUT, "/api/orgs/acme/settings", as: "owner", json: settings).status == .ok)

            let renamed = try await cast.call(.PUT, "\(roles)/analyst", as: "admin", json: #"{"name": "reader"}"#)
            #expect(renamed.status == .ok)  // MUT
            let now = try await cast.call(.GET, "/api/orgs/acme/settings", as: "owner")
            #expect(try now.decoded(as: OrganizationSettings.Settings.self).scimDefaultRole == "reader")

            let deleted = try await cast.call(.DELETE, "\(roles)/reader", as: "owner")
            #expect(deleted.status == .conflict)
            #expect(try await Role.find(named: "reader", in: cast.acme.requireID(), on: app.db) != nil)
        }
    }

    @Test("scim_default_role: in the settings, owners set it to a role other than owner")
    func defaultRole() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let settings = try await cast.call(.GET, "/api/orgs/acme/settings", as: "owner")
            #expect(try settings.decoded(as: OrganizationSettings.Settings.self).scimDefaultRole == "member")
            let changed = try await cast.call(
                .PUT,
                "/api/orgs/acme/settings",
                as: "owner",
                json: #"{"device_signin": true, "token_ttl": null, "scim_default_role": "viewer"}"#
            )  // MUT
            #expect(try changed.decoded(as: OrganizationSettings.Settings.self).scimDefaultRole == "viewer")
            // Left out, it stays.
            let kept = try await cast.call(
                .PUT,
                "/api/orgs/acme/settings",
                as: "owner",
                json: #"{"device_signin": true, "token_ttl": null}"#
            )
            #expect(try kept.decoded(as: OrganizationSettings.Settings.self).scimDefaultRole == "viewer")
            for role in ["owner", "nobody"] {
                let refused = try await cast.call(
                    .PUT,
                    "/api/orgs/acme/settings",
                    as: "owner",
                    json: #"{"device_signin": true, "token_ttl": null, "scim_default_role": "\#(role)"}"#
                )
                #expect(refused.status == .unprocessableEntity, "\(role)")
            }
            #expect(try await Organization.find(slug: "acme", on: app.db)?.scimDefaultRole == "viewer")
            let byAdmin = try await cast.call(
                .PUT,
                "/api/orgs/acme/settings",
                as: "admin",
                json: #"{"device_signin": true, "token_ttl": null, "scim_default_role": "member"}"#
            )
            #expect(byAdmin.status == .forbidden)
        }
    }

    @Test("the settings page: an owner makes a token, sees it once, and revokes it; the default role is a form field")
    func settingsPage() async throws {
        try await withPortal { app in
            _ = try await Fixtures(app: app).standardCast(role: "owner")
            let browser = Browser(app: app)
            try await browser.signIn()
            let page = try await browser.get("/orgs/acme/settings")
            #expect(page.text.contains("name=\"scim_default_role\"") && page.text.contains("/scim/v2"))
            #expect(page.text.contains("No directory token yet."))
            // No OIDC_ISSUER here: the accounts a directory makes could not sign in.
            #expect(page.text.contains("cannot sign in until it does"))

            let made = try await browser.post("/orgs/acme/settings/scim-tokens", [])  // MUT
            #expect(made.status == .ok)
            let secret = try #require(made.text.firstMatch(of: /scim_[A-Za-z0-9_-]{43}/).map { String($0.output) })
            #expect(try await DirectoryClient(app: app, token: secret).call(.GET, "/Users").status == .ok)
            let again = try await browser.get("/orgs/acme/settings")
            #expect(!again.text.contains(secret) && again.text.contains("Revoke"))

            let id = try #require(try await DirectoryToken.query(on: app.db).first()?.id)
            let revoked = try await browser.post("/orgs/acme/settings/scim-tokens/\(id)/revoke", [])
            #expect(revoked.status == .seeOther)
            _ = try await DirectoryClient(app: app, token: secret).call(.GET, "/Users").scimError(.unauthorized)

            let saved = try await browser.post(
                "/orgs/acme/settings",
                [("device_signin", "on"), ("token_ttl", ""), ("scim_default_role", "viewer")]
            )
            #expect(saved.status == .seeOther)
            #expect(try await Organization.find(slug: "acme", on: app.db)?.scimDefaultRole == "viewer")
        }
    }

    @Test(
        "with sign-in through the company's provider, the settings page has no warning about the directory's accounts"
    )
    func noWarningWithProvider() async throws {
        try await withPortal({
            $0.oidc = OIDCSettings(issuer: FakeIdentityProvider.issuer, clientID: FakeIdentityProvider.clientID)
        }) { app in
            FakeIdentityProvider().install(in: app)
            _ = try await Fixtures(app: app).standardCast(role: "owner")
            let browser = Browser(app: app)
            try await browser.signIn()
            let page = try await browser.get("/orgs/acme/settings")
            #expect(page.text.contains("Company directory (SCIM)"))
            #expect(!page.text.contains("cannot sign in until it does"))
        }
    }
}
