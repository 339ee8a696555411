import Fluent
import Foundation

/// A desktop app's credential: bound to one user and one organization, stored only as a hash.
final class APIToken: Model, @unchecked Sendable {
    static let schema = "api_tokens"

    enum RevocationReason: String, Codable {
        case signOut = "sign-out"
        case memberRemoved = "member-removed"
        case admin
        case user
    }

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "token_hash") var tokenHash: String
    @OptionalField(key: "device_name") var deviceName: String?
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    @OptionalField(key: "last_used_ip") var lastUsedIP: String?
    @OptionalField(key: "revoked_at") var revokedAt: Date?
    @OptionalField(key: "revoked_reason") var revokedReason: RevocationReason?

    // relationships
    @Parent(key: "user_id") var user: User
    @Parent(key: "organization_id") var organization: Organization
    @Parent(key: "client_id") var client: OAuthClient
    @OptionalParent(key: "device_authorization_id") var deviceAuthorization: DeviceAuthorization?

    init() {}

    init(
        tokenHash: String,
        userID: UUID,
        organizationID: UUID,
        clientID: UUID,
        deviceAuthorizationID: UUID?,
        deviceName: String?,
        expiresAt: Date
    ) {
        self.tokenHash = tokenHash
        self.$user.id = userID
        self.$organization.id = organizationID
        self.$client.id = clientID
        self.$deviceAuthorization.id = deviceAuthorizationID
        self.deviceName = deviceName
        self.expiresAt = expiresAt
    }
}

struct CreateAPITokens: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(APIToken.schema)
            .id()
            .field("token_hash", .string, .required)
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field("organization_id", .uuid, .required, .references(Organization.schema, .id, onDelete: .cascade))
            .field("client_id", .uuid, .required, .references(OAuthClient.schema, .id, onDelete: .cascade))
            .field(
                "device_authorization_id",
                .uuid,
                .references(DeviceAuthorization.schema, .id, onDelete: .setNull)
            )
            .field("device_name", .string)
            .field("created_at", .datetime)
            .field("expires_at", .datetime, .required)
            .field("last_used_at", .datetime)
            .field("last_used_ip", .string)
            .field("revoked_at", .datetime)
            .field("revoked_reason", .string)
            .unique(on: "token_hash")
            // A second token for one device code is impossible even if the exchange logic broke.
            .unique(on: "device_authorization_id")
            .create()
        try await database.createIndex(
            on: APIToken.schema,
            named: "api_tokens_user_org",
            columns: "user_id",
            "organization_id"
        )
    }

    func revert(on database: any Database) async throws {
        try await database.schema(APIToken.schema).delete()
    }
}
