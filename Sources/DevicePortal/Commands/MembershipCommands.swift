import Fluent
import Vapor

/// The options `add-member` and `set-role` share: `--org S --email E --role R`.
struct MemberRoleSignature: CommandSignature {
    @Option(name: "org", help: "The organization's slug.")
    var org: String?
    @Option(name: "email", help: "The user's email.")
    var email: String?
    @Option(name: "role", help: "owner, admin, member, viewer or a custom role of the organization.")
    var role: String?
    init() {}

    func resolve(on db: any Database) async throws -> (User, Organization, Role) {
        let lookups = CommandLookups(db: db)
        let organization = try await lookups.organization(slug: try org.required("org"))
        let user = try await lookups.user(email: try email.required("email"))
        return (user, organization, try await lookups.role(named: try role.required("role"), in: organization))
    }
}

/// `portal add-member --org S --email E --role R`
struct AddMemberCommand: AsyncCommand {
    var help: String { "Adds a user to an organization with a role." }

    func run(using context: CommandContext, signature: MemberRoleSignature) async throws {
        let db = context.application.db
        let (user, organization, role) = try await signature.resolve(on: db)
        try await MemberAdministration.add(user, to: organization, as: role, by: .commandLine(in: organization), on: db)
        context.console.print("Added \(user.email) to \(organization.slug) as \(role.name).")
    }
}

/// `portal set-role --org S --email E --role R`
struct SetRoleCommand: AsyncCommand {
    var help: String { "Changes a member's role; it counts on their tokens' next request." }

    func run(using context: CommandContext, signature: MemberRoleSignature) async throws {
        let db = context.application.db
        let (user, organization, role) = try await signature.resolve(on: db)
        try await MemberAdministration.setRole(
            of: try user.requireID(),
            to: role,
            by: .commandLine(in: organization),
            on: db
        )
        context.console.print("\(user.email) is now \(role.name) in \(organization.slug).")
    }
}

/// `portal remove-member --org S --email E`
struct RemoveMemberCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "org", help: "The organization's slug.")
        var org: String?
        @Option(name: "email", help: "The member's email.")
        var email: String?
        init() {}
    }

    var help: String { "Removes a member from an organization and revokes their tokens there." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let db = context.application.db
        let lookups = CommandLookups(db: db)
        let organization = try await lookups.organization(slug: try signature.org.required("org"))
        let user = try await lookups.user(email: try signature.email.required("email"))
        let revoked = try await MemberAdministration.remove(
            try user.requireID(),
            by: .commandLine(in: organization),
            on: db
        )
        context.console.print(
            "Removed \(user.email) from \(organization.slug); revoked \(Wording.count(revoked, "token"))."
        )
    }
}
