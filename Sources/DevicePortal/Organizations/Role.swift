import Fluent
import Foundation

/// A named set of permissions: built-in (no organization) or custom to one organization.
final class Role: Model, @unchecked Sendable {
    static let schema = "roles"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "name") var name: String
    /// Comma-separated permission names; see `Permission.encode`.
    @Field(key: "permissions") var storedPermissions: String

    // relationships
    @OptionalParent(key: "organization_id") var organization: Organization?

    init() {}

    init(name: String, permissions: Set<Permission>, organizationID: UUID?) {
        self.name = name
        self.storedPermissions = Permission.encode(permissions)
        self.$organization.id = organizationID
    }

    var permissions: Set<Permission> { Permission.decode(storedPermissions) }

    /// The built-in role of that name, or else the org's custom role of that name.
    static func find(named name: String, in organizationID: UUID, on db: any Database) async throws -> Role? {
        try await Role.query(on: db)
            .filter(\.$name == name)
            .group(.or) { $0.filter(\.$organization.$id == nil).filter(\.$organization.$id == organizationID) }
            .first()
    }
}

struct CreateRoles: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Role.schema)
            .id()
            .field("organization_id", .uuid, .references(Organization.schema, .id, onDelete: .cascade))
            .field("name", .string, .required)
            .field("permissions", .string, .required)
            .field("created_at", .datetime)
            .unique(on: "organization_id", "name")
            .create()
        for builtIn in BuiltInRole.allCases {
            try await Role(name: builtIn.rawValue, permissions: builtIn.permissions, organizationID: nil)
                .create(on: database)
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Role.schema).delete()
    }
}

extension Role {
    /// Custom role names: `[a-z][a-z0-9-]{0,31}`, never a built-in name.
    static func isValidCustomName(_ name: String) -> Bool {
        name.wholeMatch(of: /[a-z][a-z0-9-]{0,31}/) != nil && BuiltInRole(rawValue: name) == nil
    }
}
