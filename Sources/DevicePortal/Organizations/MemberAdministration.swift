import Fluent
import Foundation
import SQLKit

/// Adding, re-roling and removing members, keeping the rules that hold for every caller:
/// only owners make or unmake owners, an organization always keeps an owner, nobody changes
/// their own role or hands out permissions they lack, and a removed member's tokens die.
enum MemberAdministration {
    /// Ends a membership, in the caller's transaction: the row, the member's tokens in that org
    /// and their approved codes not yet exchanged (`TokenRevocation`), the invitations still open
    /// to their email (a link must not bring them back), and the audit event.
    /// Returns how many tokens died. Removal by an admin and deprovisioning by the directory
    /// both end here, after their own checks.
    static func end(
        _ membership: Membership,
        of user: User,
        in organizationID: UUID,
        by actor: AuditActor,
        on tx: any Database
    ) async throws -> Int {
        let userID = try user.requireID()
        try await membership.delete(on: tx)
        try await Invitations.withdrawOpen(to: user.email, in: organizationID, by: actor, at: Date(), on: tx)
        let revoked = try await TokenRevocation.revoke(
            .all(userID: userID, organizationID: organizationID),
            reason: .memberRemoved,
            audit: nil,
            on: tx
        ).revokedTokens
        try await AuditEvent.record(
            .memberRemoved,
            by: actor,
            in: organizationID,
            about: AuditSubject(userID: userID, label: user.email),
            details: ["revoked_tokens": String(revoked)],
            on: tx
        )
        return revoked
    }

    struct Member: Sendable {
        let user: UserDTO
        let role: String
        let activeTokens: Int
    }

    static func members(of organizationID: UUID, only userID: UUID? = nil, on db: any Database) async throws -> [Member]
    {
        let memberships = Membership.query(on: db)
            .filter(\.$organization.$id == organizationID)
            .join(User.self, on: \Membership.$user.$id == \User.$id)
            .join(Role.self, on: \Membership.$role.$id == \Role.$id)
            .sort(User.self, \.$email)
        let live = APIToken.query(on: db)
            .filter(\.$organization.$id == organizationID)
            .filter(\.$revokedAt == nil)
            .filter(\.$expiresAt > Date())
        if let userID {
            memberships.filter(\.$user.$id == userID)
            live.filter(\.$user.$id == userID)
        }
        let liveTokens = Dictionary(try await live.all(\.$user.$id).map { ($0, 1) }, uniquingKeysWith: +)
        return try await memberships.all().map { membership in
            let user = try membership.joined(User.self)
            return Member(
                user: UserDTO(user),
                role: try membership.joined(Role.self).name,
                activeTokens: liveTokens[try user.requireID(), default: 0]
            )
        }
    }

    static func add(
        _ user: User,
        to organization: Organization,
        as role: Role,
        by admin: Administrator,
        on db: any Database
    )
        async throws
    {
        try admin.require(.membersManage)
        try requireMayGrant(role, admin)
        let userID = try user.requireID()
        let organizationID = try organization.requireID()
        try await db.transaction { tx in
            if try await Membership.find(userID: userID, organizationID: organizationID, on: tx) != nil {
                throw AdminError.conflict("\(user.email) is already a member of \(organization.slug).")
            }
            try await Membership(userID: userID, organizationID: organizationID, roleID: try role.requireID())
                .create(on: tx)
            try await AuditEvent.record(
                .memberAdded,
                by: admin.audit,
                in: organizationID,
                about: AuditSubject(userID: userID, label: user.email),
                details: ["role": role.name],
                on: tx
            )
        }
    }

    static func setRole(of userID: UUID, to role: Role, by caller: Administrator, on db: any Database) async throws {
        try await db.transaction { tx in
            try await lockOrganization(caller.organizationID, on: tx)
            let admin = try await caller.reloaded(on: tx)
            try admin.require(.membersManage)
            guard userID != admin.userID else { throw AdminError.forbidden("Nobody can change their own role.") }
            try requireMayGrant(role, admin)
            let (membership, user) = try await requireMember(userID, admin, on: tx)
            let previous = membership.role.name
            guard previous != role.name else { return }
            if previous == BuiltInRole.owner.rawValue {
                try admin.requireOwner("take the owner role away")
                try await requireAnotherOwner(admin.organizationID, on: tx)
            }
            membership.$role.id = try role.requireID()
            try await membership.update(on: tx)
            try await AuditEvent.record(
                .roleChanged,
                by: admin.audit,
                in: admin.organizationID,
                about: AuditSubject(userID: userID, label: user.email),
                details: ["from": previous, "to": role.name],
                on: tx
            )
        }
    }

    /// Removes the membership and revokes the member's tokens in that organization in the
    /// same transaction; returns how many tokens were revoked.
    static func remove(_ userID: UUID, by caller: Administrator, on db: any Database) async throws -> Int {
        let revoked = try await db.transaction { tx in
            try await lockOrganization(caller.organizationID, on: tx)
            let admin = try await caller.reloaded(on: tx)
            try admin.require(.membersManage)
            guard userID != admin.userID else { throw AdminError.forbidden("Nobody can remove themselves here.") }
            let (membership, user) = try await requireMember(userID, admin, on: tx)
            if membership.role.name == BuiltInRole.owner.rawValue {
                try admin.requireOwner("remove an owner")
                try await requireAnotherOwner(admin.organizationID, on: tx)
            }
            return try await end(membership, of: user, in: admin.organizationID, by: admin.audit, on: tx)
        }
        caller.metrics?.tokensRevoked(revoked, reason: .memberRemoved)
        return revoked
    }

    /// Revokes all of a member's tokens in the organization, keeping the membership.
    static func revokeTokens(of userID: UUID, by admin: Administrator, on db: any Database) async throws -> Int {
        try admin.require(.tokensManage)
        _ = try await requireMember(userID, admin, on: db)
        return try await TokenRevocation.revoke(
            .all(userID: userID, organizationID: admin.organizationID),
            reason: .admin,
            audit: admin.audit,
            on: db,
            metrics: admin.metrics
        ).revokedTokens
    }

    /// Only an owner grants the owner role, and nobody grants permissions they lack.
    static func requireMayGrant(_ role: Role, _ admin: Administrator) throws {
        try requireMayGrant(named: role.name, permissions: role.permissions, admin)
    }

    /// Only owners make owners, and nobody hands out a permission they lack.
    static func requireMayGrant(named name: String, permissions: Set<Permission>, _ admin: Administrator) throws {
        if name == BuiltInRole.owner.rawValue { try admin.requireOwner("make someone an owner") }
        try admin.requireHolding(permissions)
    }

    private static func requireMember(
        _ userID: UUID,
        _ admin: Administrator,
        on db: any Database
    ) async throws
        -> (Membership, User)
    {
        guard let membership = try await Membership.find(userID: userID, organizationID: admin.organizationID, on: db),
            let user = try await User.find(userID, on: db)
        else { throw AdminError.notFound("That user is not a member of this organization.") }
        return (membership, user)
    }

    /// Serializes changes to one organization's members, so that two concurrent demotions
    /// cannot both see "another owner" and leave none: a no-op update takes the row's write
    /// lock (PostgreSQL) or the database's (SQLite) before anything is read.
    static func lockOrganization(_ organizationID: UUID, on db: any Database) async throws {
        try await db.sql.update(Organization.schema)
            .set(SQLIdentifier("slug"), to: SQLIdentifier("slug"))
            .where("id", .equal, organizationID)
            .run()
    }

    static func requireAnotherOwner(_ organizationID: UUID, on db: any Database) async throws {
        let owners = try await Membership.query(on: db)
            .join(Role.self, on: \Membership.$role.$id == \Role.$id)
            .filter(\.$organization.$id == organizationID)
            .filter(Role.self, \.$name == BuiltInRole.owner.rawValue)
            .filter(Role.self, \.$organization.$id == nil)
            .count()
        guard owners > 1 else {
            throw AdminError.conflict(
                "The organization must keep at least one owner: make someone else an owner first."
            )
        }
    }
}
