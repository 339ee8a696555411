import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Admin commands")
struct CommandTests {
    @Test("a user, an org, a membership and a client: each command prints what it did")
    func happyPath() async throws {
        try await withPortal { app in
            let created = try await runCommand(
                app,
                "create-user",
                ["--email", "Ada@Example.com", "--name", "Ada", "--password", "long enough"]
            )
            #expect(created.contains("Created user ada@example.com"))
            #expect(try await runCommand(app, "create-org", ["--slug", "acme", "--name", "Acme"]).contains("acme"))
            let added = try await runCommand(
                app,
                "add-member",
                ["--org", "acme", "--email", "ADA@example.com", "--role", "owner"]
            )
            #expect(added.contains("as owner"))
            let client = try await runCommand(app, "create-client", ["--client-id", "desktop", "--name", "Desktop"])
            #expect(client.contains("public client desktop"))

            let user = try #require(try await User.find(email: "ada@example.com", on: app.db))
            #expect(try await app.password.async.verify("long enough", created: user.passwordHash))
            #expect(user.passwordHash != "long enough")
            #expect(try await Membership.query(on: app.db).count() == 1)
        }
    }

    @Test(
        "bad input: a clear message, nothing changed",
        arguments: [
            (
                "create-user", ["--email", "ada@example.com", "--name", "Again", "--password", "long enough"],
                "already exists"
            ),
            (
                "create-user", ["--email", "ADA@EXAMPLE.COM", "--name", "Again", "--password", "long enough"],
                "already exists"
            ),
            (
                "create-user", ["--email", "not-an-email", "--name", "X", "--password", "long enough"],
                "not a valid email"
            ),
            ("create-user", ["--email", "x@example.com", "--name", "X", "--password", "short"], "at least 8"),
            ("create-user", ["--name", "X", "--password", "long enough"], "Missing --email"),
            ("create-org", ["--slug", "Bad Slug", "--name", "X"], "not a valid slug"),
            ("create-org", ["--slug", "acme", "--name", "X"], "already exists"),
            ("add-member", ["--org", "nowhere", "--email", "ada@example.com", "--role", "member"], "No organization"),
            ("add-member", ["--org", "acme", "--email", "nobody@example.com", "--role", "member"], "No user"),
            ("add-member", ["--org", "acme", "--email", "bob@example.com", "--role", "emperor"], "Unknown role"),
            ("add-member", ["--org", "acme", "--email", "ada@example.com", "--role", "member"], "already a member"),
            ("set-role", ["--org", "acme", "--email", "bob@example.com", "--role", "admin"], "not a member"),
            ("create-client", ["--client-id", "has space", "--name", "X"], "not a valid client id"),
            ("create-role", ["--org", "acme", "--name", "admin", "--permissions", "members:read"], "not a valid role"),
            ("create-role", ["--org", "acme", "--name", "analyst", "--permissions", "root:all"], "Unknown permission"),
            ("revoke-tokens", ["--email", "nobody@example.com"], "No user"),
        ]
    )
    func refusals(command: String, arguments: [String], message: String) async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let ada = try await fixtures.user()
            try await fixtures.user("bob@example.com", name: "Bob")
            try await fixtures.member(ada, of: try await fixtures.organization(), as: "owner")
            let counts = try await Self.counts(app)
            let failure = await commandFailure(app, command, arguments)
            #expect(failure?.contains(message) == true, "\(failure ?? "succeeded")")
            #expect(try await Self.counts(app) == counts)
        }
    }

    private static func counts(_ app: Application) async throws -> [Int] {
        [
            try await User.query(on: app.db).count(), try await Organization.query(on: app.db).count(),
            try await Membership.query(on: app.db).count(), try await Role.query(on: app.db).count(),
            try await OAuthClient.query(on: app.db).count(),
        ]
    }

    @Test("the last owner can be neither demoted nor removed; with two owners one can go")
    func lastOwner() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let ada = try await fixtures.user()
            let organization = try await fixtures.organization()
            try await fixtures.member(ada, of: organization, as: "owner")
            let demote = await commandFailure(
                app,
                "set-role",
                ["--org", "acme", "--email", "ada@example.com", "--role", "admin"]
            )
            #expect(demote?.contains("at least one owner") == true)
            let remove = await commandFailure(app, "remove-member", ["--org", "acme", "--email", "ada@example.com"])
            #expect(remove?.contains("at least one owner") == true)

            let bob = try await fixtures.user("bob@example.com", name: "Bob")
            try await fixtures.member(bob, of: organization, as: "owner")
            let output = try await runCommand(
                app,
                "set-role",
                ["--org", "acme", "--email", "ada@example.com", "--role", "viewer"]
            )
            #expect(output.contains("now viewer"))
        }
    }

    @Test("remove-member revokes the member's tokens in that org only, and says how many")
    func removeMember() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, client) = try await fixtures.standardCast()
            let globex = try await fixtures.organization("globex")
            try await fixtures.member(ada, of: globex)
            let boss = try await fixtures.user("boss@example.com")
            try await fixtures.member(boss, of: acme, as: "owner")
            let acmeTokens = [
                try await fixtures.token(for: ada, in: acme, client: client),
                try await fixtures.token(for: ada, in: acme, client: client),
            ]
            let globexToken = try await fixtures.token(for: ada, in: globex, client: client)
            let output = try await runCommand(app, "remove-member", ["--org", "acme", "--email", "ada@example.com"])
            #expect(output.contains("revoked 2 tokens"))
            for token in acmeTokens { #expect(try await DesktopApp(app: app).me(token).status == .unauthorized) }
            #expect(try await DesktopApp(app: app).me(globexToken).status == .ok)
        }
    }

    @Test("revoke-tokens revokes in one org or in all")
    func revokeTokens() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, client) = try await fixtures.standardCast()
            let globex = try await fixtures.organization("globex")
            try await fixtures.member(ada, of: globex)
            _ = try await fixtures.token(for: ada, in: acme, client: client)
            let globexToken = try await fixtures.token(for: ada, in: globex, client: client)
            let one = try await runCommand(app, "revoke-tokens", ["--email", "ada@example.com", "--org", "acme"])
            #expect(one.contains("Revoked 1 token"))
            #expect(try await DesktopApp(app: app).me(globexToken).status == .ok)
            let all = try await runCommand(app, "revoke-tokens", ["--email", "ada@example.com"])
            #expect(all.contains("Revoked 1 token"))
            #expect(try await DesktopApp(app: app).me(globexToken).status == .unauthorized)
        }
    }

    @Test("a confidential client's secret is printed once and stored only as a hash")
    func confidentialClient() async throws {
        try await withPortal { app in
            let output = try await runCommand(
                app,
                "create-client",
                ["--client-id", "warehouse", "--name", "Warehouse", "--confidential"]
            )
            let secret = try #require(output.firstMatch(of: /[0-9a-f]{64}/).map { String($0.0) })
            let client = try #require(try await OAuthClient.find(clientID: "warehouse", on: app.db))
            #expect(client.secretHash == OpaqueSecret.hash(secret))
        }
    }

    @Test("a custom role can be created and granted")
    func customRole() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, _) = try await fixtures.standardCast()
            let boss = try await fixtures.user("boss@example.com")
            try await fixtures.member(boss, of: acme, as: "owner")
            let output = try await runCommand(
                app,
                "create-role",
                ["--org", "acme", "--name", "analyst", "--permissions", "queries:run, audit:read"]
            )
            #expect(output.contains("queries:run"))
            try await runCommand(app, "set-role", ["--org", "acme", "--email", "ada@example.com", "--role", "analyst"])
            let membership = try #require(
                try await Membership.find(userID: ada.requireID(), organizationID: acme.requireID(), on: app.db)
            )
            #expect(membership.role.name == "analyst")
            #expect(membership.role.permissions == [.queriesRun, .auditRead])
        }
    }
}
