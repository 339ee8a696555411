import Fluent
import Foundation

/// A user's place in an organization. Its role is read on every guarded request.
final class Membership: Model, @unchecked Sendable {
    static let schema = "memberships"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // relationships
    @Parent(key: "user_id") var user: User
    @Parent(key: "organization_id") var organization: Organization
    @Parent(key: "role_id") var role: Role

    init() {}

    init(userID: UUID, organizationID: UUID, roleID: UUID) {
        self.$user.id = userID
        self.$organization.id = organizationID
        self.$role.id = roleID
    }

    static func find(userID: UUID, organizationID: UUID, on db: any Database) async throws -> Membership? {
        try await Membership.query(on: db)
            .filter(\.$user.$id == userID)
            .filter(\.$organization.$id == organizationID)
            .with(\.$role)
            .first()
    }
}

struct CreateMemberships: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Membership.schema)
            .id()
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field("organization_id", .uuid, .required, .references(Organization.schema, .id, onDelete: .cascade))
            .field("role_id", .uuid, .required, .references(Role.schema, .id))
            .field("created_at", .datetime)
            .unique(on: "user_id", "organization_id")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Membership.schema).delete()
    }
}
