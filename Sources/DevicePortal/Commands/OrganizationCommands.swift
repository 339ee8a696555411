import Fluent
import Vapor

/// `portal create-org --slug S --name N [--external-id X]`
struct CreateOrganizationCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "slug", help: "Lowercase letters, digits and dashes; used in URLs.")
        var slug: String?
        @Option(name: "name", help: "The organization's display name.")
        var name: String?
        @Option(name: "external-id", help: "The id the company's session JWTs give this org (EXTERNAL_JWT_ORG_CLAIM).")
        var externalID: String?
        init() {}
    }

    var help: String { "Creates an organization." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let slug = try signature.slug.required("slug")
        let name = try signature.name.required("name")
        guard Organization.isValidSlug(slug) else {
            throw CommandFailure(
                "\"\(slug)\" is not a valid slug: use 1 to 40 lowercase letters, digits and inner dashes."
            )
        }
        guard name.fits(100) else { throw CommandFailure("The name must be at most 100 characters.") }
        let db = context.application.db
        guard try await Organization.find(slug: slug, on: db) == nil else {
            throw CommandFailure("An organization with the slug \(slug) already exists.")
        }
        let organization = Organization(slug: slug, name: name)
        if let externalID = signature.externalID {
            organization.externalID = try await ExternalIDOption.checked(externalID, on: db)
        }
        try await organization.create(on: db)
        context.console.print("Created organization \(slug) (\(name)), id \(try organization.requireID()).")
    }
}

/// `portal create-role --org S --name N --permissions p1,p2,...`
struct CreateRoleCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "org", help: "The organization's slug.")
        var org: String?
        @Option(name: "name", help: "The role's name: [a-z][a-z0-9-]{0,31}, not a built-in name.")
        var name: String?
        @Option(name: "permissions", help: "Comma-separated permissions, e.g. members:read,queries:read.")
        var permissions: String?
        init() {}
    }

    var help: String { "Creates a custom role in an organization." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let db = context.application.db
        let organization = try await CommandLookups(db: db).organization(slug: try signature.org.required("org"))
        let permissions = try signature.permissions.required("permissions").split(separator: ",").map(String.init)
        let role = try await RoleAdministration.create(
            named: try signature.name.required("name"),
            permissions: permissions,
            by: .commandLine(in: organization),
            on: db
        )
        context.console.print("Created role \(role.name) in \(organization.slug) with \(role.storedPermissions).")
    }
}

/// `portal set-org-external-id --org S --external-id X`
struct SetOrganizationExternalIDCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "org", help: "The organization's slug.")
        var org: String?
        @Option(name: "external-id", help: "The id the company's session JWTs give this org.")
        var externalID: String?
        init() {}
    }

    var help: String { "Sets the id by which the company's session JWTs name an organization." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let db = context.application.db
        let organization = try await CommandLookups(db: db).organization(slug: try signature.org.required("org"))
        let externalID = try await ExternalIDOption.checked(
            try signature.externalID.required("external-id"),
            on: db,
            except: organization
        )
        organization.externalID = externalID
        try await organization.save(on: db)
        context.console.print("\(organization.slug) is now \(externalID) in the company's session JWTs.")
    }
}

/// An `--external-id` value: well formed and not another org's.
enum ExternalIDOption {
    static func checked(_ value: String, on db: any Database, except own: Organization? = nil) async throws -> String {
        guard Organization.isValidExternalID(value) else {
            throw CommandFailure("The external id must be 1 to 255 bytes, with no control characters or outer spaces.")
        }
        if let other = try await Organization.find(externalID: value, on: db), other.id != own?.id {
            throw CommandFailure("The organization \(other.slug) already has the external id \(value).")
        }
        return value
    }
}
