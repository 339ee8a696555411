import Fluent
import Foundation

/// A signed-in browser. The cookie holds a secret whose SHA-256 is `token_hash`;
/// `id` is the separate opaque session id that session JWTs name as `sid`.
final class WebSession: Model, @unchecked Sendable {
    static let schema = "web_sessions"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "token_hash") var tokenHash: String
    @Field(key: "csrf_token") var csrfToken: String
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "ip") var ip: String?
    @OptionalField(key: "user_agent") var userAgent: String?

    // relationships
    @Parent(key: "user_id") var user: User
    @OptionalParent(key: "active_organization_id") var activeOrganization: Organization?

    init() {}

    init(tokenHash: String, csrfToken: String, userID: UUID, expiresAt: Date, ip: String?, userAgent: String?) {
        self.tokenHash = tokenHash
        self.csrfToken = csrfToken
        self.$user.id = userID
        self.expiresAt = expiresAt
        self.ip = ip
        self.userAgent = userAgent
    }
}

struct CreateWebSessions: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(WebSession.schema)
            .id()
            .field("token_hash", .string, .required)
            .field("csrf_token", .string, .required)
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field(
                "active_organization_id",
                .uuid,
                .references(Organization.schema, .id, onDelete: .setNull)
            )
            .field("expires_at", .datetime, .required)
            .field("ip", .string)
            .field("user_agent", .string)
            .field("created_at", .datetime)
            .unique(on: "token_hash")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(WebSession.schema).delete()
    }
}
