import Fluent
import Vapor

/// A command's clear refusal; the entry point prints it and exits non-zero.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Optional where Wrapped == String {
    /// The value of a required `--name` option.
    func required(_ option: String) throws -> String {
        guard let value = self?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw CommandFailure("Missing --\(option).")
        }
        return value
    }
}

/// Look-ups shared by the admin commands, each failing with a message a person can act on.
struct CommandLookups {
    let db: any Database

    func organization(slug: String) async throws -> Organization {
        guard let organization = try await Organization.find(slug: slug, on: db) else {
            throw CommandFailure("No organization has the slug \"\(slug)\".")
        }
        return organization
    }

    func user(email: String) async throws -> User {
        guard let user = try await User.find(email: email, on: db) else {
            throw CommandFailure("No user has the email \(email).")
        }
        return user
    }

    func role(named name: String, in organization: Organization) async throws -> Role {
        guard let role = try await Role.find(named: name, in: try organization.requireID(), on: db) else {
            throw CommandFailure(
                "Unknown role \"\(name)\" in \(organization.slug): use owner, admin, member, viewer or a custom role of it."
            )
        }
        return role
    }
}

extension Application {
    func registerCommands() {
        asyncCommands.use(CreateUserCommand(), as: "create-user")
        asyncCommands.use(CreateOrganizationCommand(), as: "create-org")
        asyncCommands.use(SetOrganizationExternalIDCommand(), as: "set-org-external-id")
        asyncCommands.use(LinkIdentityCommand(), as: "link-identity")
        asyncCommands.use(AddMemberCommand(), as: "add-member")
        asyncCommands.use(SetRoleCommand(), as: "set-role")
        asyncCommands.use(RemoveMemberCommand(), as: "remove-member")
        asyncCommands.use(CreateClientCommand(), as: "create-client")
        asyncCommands.use(RevokeTokensCommand(), as: "revoke-tokens")
        asyncCommands.use(CreateRoleCommand(), as: "create-role")
        asyncCommands.use(CreateSCIMTokenCommand(), as: "create-scim-token")
        asyncCommands.use(RotateSigningKeyCommand(), as: "rotate-signing-key")
        asyncCommands.use(BackupCommand(), as: "backup")
        asyncCommands.use(DemoCommand(), as: "demo")
    }
}
