import Fluent
import Foundation
import SQLKit
import Vapor

final class Organization: Model, @unchecked Sendable {
    static let schema = "organizations"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "slug") var slug: String
    @Field(key: "name") var name: String
    /// Off: the org leaves the device picker; its existing tokens keep working.
    @Field(key: "device_signin") var deviceSignIn: Bool
    /// A lifetime for new tokens shorter than the server's `TOKEN_TTL`, if the owners set one.
    @OptionalField(key: "token_ttl") var tokenTTL: Int?
    /// The company's own id for this org, as its session JWTs name it (`EXTERNAL_JWT_ORG_CLAIM`).
    @OptionalField(key: "external_id") var externalID: String?
    /// The role of the members its directory provisions (SCIM): `member` unless the owners choose another.
    @Field(key: "scim_default_role") var scimDefaultRole: String

    init() {}

    init(slug: String, name: String) {
        self.slug = slug
        self.name = name
        self.deviceSignIn = true
        self.scimDefaultRole = BuiltInRole.member.rawValue
    }

    /// Lowercase letters, digits and inner dashes, 1 to 40 characters.
    static func isValidSlug(_ slug: String) -> Bool {
        slug.wholeMatch(of: /[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?/) != nil
    }

    static let maxExternalIDBytes = 255

    /// Printable ASCII or more, no control characters, at most 255 bytes.
    static func isValidExternalID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= maxExternalIDBytes && !id.containsControlCharacters
            && id.trimmingCharacters(in: .whitespaces) == id
    }

    static func find(externalID: String, on db: any Database) async throws -> Organization? {
        try await Organization.query(on: db).filter(\.$externalID == externalID).first()
    }

    static func find(slug: String, on db: any Database) async throws -> Organization? {
        try await Organization.query(on: db).filter(\.$slug == slug).first()
    }
}

struct CreateOrganizations: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Organization.schema)
            .id()
            .field("slug", .string, .required)
            .field("name", .string, .required)
            .field("device_signin", .bool, .required, .sql(.default(true)))
            .field("token_ttl", .int)
            .field("created_at", .datetime)
            .unique(on: "slug")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Organization.schema).delete()
    }
}

/// `organizations.external_id`, unique where set. SQLite cannot add a column with a UNIQUE
/// constraint, so the uniqueness is an index of its own (NULLs never collide in either database).
struct AddOrganizationExternalID: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Organization.schema).field("external_id", .string).update()
        try await database.sql.create(index: "organizations_external_id").unique()
            .on(Organization.schema).column("external_id").run()
    }

    func revert(on database: any Database) async throws {
        try await database.sql.drop(index: "organizations_external_id").run()
        try await database.schema(Organization.schema).deleteField("external_id").update()
    }
}

/// An organization as the API shows it.
struct OrganizationDTO: Content {
    let id: UUID
    let slug: String
    let name: String
}

extension OrganizationDTO {
    init(_ organization: Organization) {
        self.init(id: organization.id!, slug: organization.slug, name: organization.name)
    }
}
