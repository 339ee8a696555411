import Fluent
import Vapor

/// An organization's directory token: what its company directory (Okta, Entra ID, …) presents
/// at `/scim/v2/`. Stored only as a hash; shown once; revocable.
final class DirectoryToken: Model, @unchecked Sendable {
    static let schema = "directory_tokens"

    /// Directory tokens start with this, so that nobody takes one for an API token (64 hex) or a
    /// JWT, and secret scanners can find them.
    static let prefix = "scim_"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "token_hash") var tokenHash: String
    /// Who made it, as the audit log names them.
    @Field(key: "created_by") var createdBy: String
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?

    // relationships
    @Parent(key: "organization_id") var organization: Organization

    init() {}

    init(tokenHash: String, organizationID: UUID, createdBy: String) {
        self.tokenHash = tokenHash
        self.$organization.id = organizationID
        self.createdBy = createdBy
    }

    /// A new secret: the prefix and 32 random bytes in base64url.
    static func newSecret() -> String {
        prefix + OpaqueSecret.base64URL()
    }

    static func isShaped(_ value: String) -> Bool {
        value.hasPrefix(prefix) && value.utf8.count == prefix.utf8.count + 43
    }
}

struct CreateDirectoryTokens: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(DirectoryToken.schema)
            .id()
            .field("organization_id", .uuid, .required, .references(Organization.schema, .id, onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("created_by", .string, .required)
            .field("created_at", .datetime)
            .field("last_used_at", .datetime)
            .field("revoked_at", .datetime)
            .unique(on: "token_hash")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(DirectoryToken.schema).delete()
    }
}

/// A directory token as the API and the settings page show it: never the secret, except
/// once, in the answer that makes it.
struct DirectoryTokenDTO: Content {
    let id: UUID
    let createdAt: String?
    let createdBy: String
    let lastUsedAt: String?
    let revokedAt: String?
    /// Only in the answer that creates it.
    let token: String?

    enum CodingKeys: String, CodingKey {
        case id, token
        case createdAt = "created_at"
        case createdBy = "created_by"
        case lastUsedAt = "last_used_at"
        case revokedAt = "revoked_at"
    }

    init(_ token: DirectoryToken, secret: String? = nil) {
        id = token.id!
        createdAt = token.createdAt?.formatted(.iso8601)
        createdBy = token.createdBy
        lastUsedAt = token.lastUsedAt?.formatted(.iso8601)
        revokedAt = token.revokedAt?.formatted(.iso8601)
        self.token = secret
    }
}
