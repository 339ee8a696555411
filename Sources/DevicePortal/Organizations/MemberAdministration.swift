import Fluent
import Foundation

/// Adding, re-roling and removing members, keeping the rules that hold for every caller:
/// an organization always keeps at least one owner, and a removed member's tokens die.
enum MemberAdministration {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func add(user: User, to organization: Organization, role: Role, on db: any Database) async throws {
        let userID = try user.requireID()
        let organizationID = try organization.requireID()
        if try await Membership.find(userID: userID, organizationID: organizationID, on: db) != nil {
            throw Failure("\(user.email) is already a member of \(organization.slug).")
        }
        try await Membership(userID: userID, organizationID: organizationID, roleID: try role.requireID()).create(
            on: db)
    }

    static func setRole(of user: User, in organization: Organization, to role: Role, on db: any Database) async throws {
        try await db.transaction { tx in
            let membership = try await requireMembership(user, organization, on: tx)
            if membership.role.name == BuiltInRole.owner.rawValue, role.name != BuiltInRole.owner.rawValue {
                try await requireAnotherOwner(organization, on: tx)
            }
            membership.$role.id = try role.requireID()
            try await membership.update(on: tx)
        }
    }

    /// Removes the membership and revokes the member's tokens in that organization in the
    /// same transaction; returns how many tokens were revoked.
    static func remove(_ user: User, from organization: Organization, on db: any Database) async throws -> Int {
        try await db.transaction { tx in
            let membership = try await requireMembership(user, organization, on: tx)
            if membership.role.name == BuiltInRole.owner.rawValue {
                try await requireAnotherOwner(organization, on: tx)
            }
            try await membership.delete(on: tx)
            return try await TokenRevocation.revokeAll(
                userID: try user.requireID(), organizationID: try organization.requireID(), reason: .memberRemoved,
                on: tx)
        }
    }

    private static func requireMembership(_ user: User, _ organization: Organization, on db: any Database)
        async throws -> Membership
    {
        guard
            let membership = try await Membership.find(
                userID: try user.requireID(), organizationID: try organization.requireID(), on: db)
        else { throw Failure("\(user.email) is not a member of \(organization.slug).") }
        return membership
    }

    private static func requireAnotherOwner(_ organization: Organization, on db: any Database) async throws {
        let owners = try await Membership.query(on: db)
            .join(Role.self, on: \Membership.$role.$id == \Role.$id)
            .filter(\.$organization.$id == organization.requireID())
            .filter(Role.self, \.$name == BuiltInRole.owner.rawValue)
            .filter(Role.self, \.$organization.$id == nil)
            .count()
        guard owners > 1 else {
            throw Failure("\(organization.slug) must keep at least one owner: make someone else an owner first.")
        }
    }
}
