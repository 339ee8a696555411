import Fluent
import Foundation
import SQLKit

/// A person the organization's directory provisioned, with what the directory keeps about them
/// (`externalId`, `name`, `displayName`, `emails`, as JSON). It outlives the membership: a User
/// the directory deactivated stays addressable by its id, `active: false`, so that the
/// directory can activate it again, as Okta and Entra ID do. Deleting the User removes it.
final class DirectoryUser: Model, @unchecked Sendable {
    static let schema = "directory_users"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?
    /// Set by every change the directory makes, membership changes included (SCIM's lastModified).
    @OptionalField(key: "updated_at") var updatedAt: Date?

    // data fields
    /// The directory's attributes of the User, a JSON object.
    @Field(key: "attributes") var attributes: String

    // relationships
    @Parent(key: "organization_id") var organization: Organization
    @Parent(key: "user_id") var user: User

    init() {}

    init(organizationID: UUID, userID: UUID, attributes: [String: SCIMValue]) {
        self.$organization.id = organizationID
        self.$user.id = userID
        self.attributes = Self.encode(attributes)
        self.updatedAt = Date()
    }

    var decodedAttributes: [String: SCIMValue] {
        (try? JSONDecoder().decode([String: SCIMValue].self, from: Data(attributes.utf8))) ?? [:]
    }

    static func encode(_ attributes: [String: SCIMValue]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(attributes)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func find(userID: UUID, organizationID: UUID, on db: any Database) async throws -> DirectoryUser? {
        try await DirectoryUser.query(on: db)
            .filter(\.$user.$id == userID)
            .filter(\.$organization.$id == organizationID)
            .first()
    }
}

struct CreateDirectoryUsers: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(DirectoryUser.schema)
            .id()
            .field("organization_id", .uuid, .required, .references(Organization.schema, .id, onDelete: .cascade))
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field("attributes", .string, .required)
            .field("created_at", .datetime)
            .field("updated_at", .datetime)
            .unique(on: "organization_id", "user_id")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(DirectoryUser.schema).delete()
    }
}

/// The role a directory's new members get: `member` unless the owners choose another.
struct AddOrganizationSCIMDefaultRole: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Organization.schema)
            .field(
                "scim_default_role",
                .string,
                .required,
                .sql(.default(SQLLiteral.string(BuiltInRole.member.rawValue)))
            )
            .update()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Organization.schema).deleteField("scim_default_role").update()
    }
}
