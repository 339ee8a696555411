import Fluent
import Foundation

/// An account's identity at a provider: (issuer, `sub`). The provider's `sub` never changes
/// for a person, unlike their email, so the link is made once and trusted after that.
final class LinkedIdentity: Model, @unchecked Sendable {
    static let schema = "linked_identities"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "issuer") var issuer: String
    @Field(key: "subject") var subject: String

    // relationships
    @Parent(key: "user_id") var user: User

    init() {}

    init(issuer: String, subject: String, userID: UUID) {
        self.issuer = issuer
        self.subject = subject
        self.$user.id = userID
    }

    static func find(issuer: String, subject: String, on db: any Database) async throws -> LinkedIdentity? {
        try await LinkedIdentity.query(on: db)
            .filter(\.$issuer == issuer)
            .filter(\.$subject == subject)
            .first()
    }

    /// Whether `subject` could be a provider's `sub`: 1 to 255 bytes, no control characters.
    static func isValid(subject: String) -> Bool {
        !subject.isEmpty && subject.utf8.count <= 255 && !subject.containsControlCharacters
    }
}

struct CreateLinkedIdentities: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(LinkedIdentity.schema)
            .id()
            .field("issuer", .string, .required)
            .field("subject", .string, .required)
            .field("user_id", .uuid, .required, .references(User.schema, .id, onDelete: .cascade))
            .field("created_at", .datetime)
            .unique(on: "issuer", "subject")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(LinkedIdentity.schema).delete()
    }
}
