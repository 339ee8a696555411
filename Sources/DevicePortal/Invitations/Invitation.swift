import Fluent
import SQLKit
import Vapor

/// An offer to join an organization with a role, made to an email address. The link's secret
/// is stored only as its SHA-256; the row is kept once used or withdrawn, so that an old link
/// says what became of it.
final class Invitation: Model, @unchecked Sendable {
    static let schema = "invitations"

    // managed fields
    @ID(key: .id) var id: UUID?

    // data fields
    /// From the portal's clock, as `expires_at` is, so that tests move time.
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @Field(key: "secret_hash") var secretHash: String
    /// Stored normalized, as accounts' emails are.
    @Field(key: "email") var email: String
    /// The inviter as people read it (their email), kept should the account go.
    @Field(key: "invited_by") var invitedBy: String
    @OptionalField(key: "accepted_at") var acceptedAt: Date?
    @OptionalField(key: "withdrawn_at") var withdrawnAt: Date?

    // relationships
    @Parent(key: "organization_id") var organization: Organization
    @Parent(key: "role_id") var role: Role
    @OptionalParent(key: "invited_by_user_id") var inviter: User?
    @OptionalParent(key: "accepted_by_user_id") var acceptedBy: User?

    init() {}

    init(
        email: String,
        organizationID: UUID,
        roleID: UUID,
        invitedBy: AuditActor,
        secretHash: String,
        createdAt: Date,
        expiresAt: Date
    ) {
        self.email = User.normalize(email: email)
        self.$organization.id = organizationID
        self.$role.id = roleID
        self.invitedBy = invitedBy.label
        self.$inviter.id = invitedBy.userID
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    enum State: Equatable {
        case pending, accepted, withdrawn, expired
    }

    func state(at now: Date) -> State {
        if acceptedAt != nil { return .accepted }
        if withdrawnAt != nil { return .withdrawn }
        return expiresAt > now ? .pending : .expired
    }
}

struct CreateInvitations: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(Invitation.schema)
            .id()
            .field("organization_id", .uuid, .required, .references(Organization.schema, .id, onDelete: .cascade))
            // Deleting a custom role withdraws the invitations to it: nobody can join with a role that is gone.
            .field("role_id", .uuid, .required, .references(Role.schema, .id, onDelete: .cascade))
            .field("email", .string, .required)
            .field("secret_hash", .string, .required)
            .field("invited_by", .string, .required)
            .field("invited_by_user_id", .uuid, .references(User.schema, .id, onDelete: .setNull))
            .field("accepted_by_user_id", .uuid, .references(User.schema, .id, onDelete: .setNull))
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("accepted_at", .datetime)
            .field("withdrawn_at", .datetime)
            .unique(on: "secret_hash")
            .create()
        // At most one open invitation per person and organization, whatever races: a partial
        // unique index, which SQLite and PostgreSQL both know and Fluent cannot declare.
        try await database.sql.raw(
            """
            CREATE UNIQUE INDEX invitations_open_email ON invitations (organization_id, email) \
            WHERE accepted_at IS NULL AND withdrawn_at IS NULL
            """
        ).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(Invitation.schema).delete()
    }
}

/// An invitation as the API shows it; `url` only in the answer that creates it.
struct InvitationDTO: Content {
    let id: UUID
    let email: String
    let role: String
    let createdAt: String
    let expiresAt: String
    let invitedBy: String
    let url: String?

    enum CodingKeys: String, CodingKey {
        case id, email, role, url
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case invitedBy = "invited_by"
    }

    /// `invitation.role` must be loaded.
    init(_ invitation: Invitation, url: String? = nil) throws {
        id = try invitation.requireID()
        email = invitation.email
        role = invitation.role.name
        createdAt = invitation.createdAt.formatted(.iso8601)
        expiresAt = invitation.expiresAt.formatted(.iso8601)
        invitedBy = invitation.invitedBy
        self.url = url
    }
}
