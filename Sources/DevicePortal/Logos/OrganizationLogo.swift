import Fluent
import Foundation
import SQLKit

/// An organization's logo: the uploaded bytes as they were, the type libmagic found in
/// them, and their SHA-256 (the ETag). Kept in the database, so every instance serves it.
final class OrganizationLogo: Model, @unchecked Sendable {
    static let schema = "organization_logos"

    // managed fields
    @ID(key: .id) var id: UUID?

    // data fields
    @Field(key: "updated_at") var updatedAt: Date
    /// Always one of `LogoRules.acceptedTypes`, as sniffed; never what the browser declared.
    @Field(key: "content_type") var contentType: String
    @Field(key: "data") var data: Data
    /// Lowercase hex SHA-256 of `data`.
    @Field(key: "sha256") var sha256: String

    // relationships
    @Parent(key: "organization_id") var organization: Organization

    init() {}

    init(organizationID: UUID, contentType: String, data: Data, sha256: String) {
        self.$organization.id = organizationID
        self.contentType = contentType
        self.data = data
        self.sha256 = sha256
        updatedAt = Date()
    }

    /// The SHA-256 of the organization's logo, if it has one, without reading the bytes.
    static func storedSHA256(of organizationID: UUID, on db: any Database) async throws -> String? {
        try await db.sql.select().column("sha256").from(schema)
            .where("organization_id", .equal, organizationID)
            .first()?.decode(column: "sha256", as: String.self)
    }
}

struct CreateOrganizationLogos: AsyncMigration {
    func prepare(on database: any Database) async throws {
        // `.data` is a BLOB in SQLite and a bytea in PostgreSQL.
        try await database.schema(OrganizationLogo.schema)
            .id()
            .field("organization_id", .uuid, .required, .references(Organization.schema, .id, onDelete: .cascade))
            .field("content_type", .string, .required)
            .field("data", .data, .required)
            .field("sha256", .string, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "organization_id")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OrganizationLogo.schema).delete()
    }
}
