import Fluent
import Foundation
import SQLKit

/// A rendered message waiting to be sent, or sent, or given up on. Written in the transaction
/// of the action it tells about, so that it exists exactly when the action committed.
final class OutboxMessage: Model, @unchecked Sendable {
    static let schema = "outbox_messages"

    /// What the message is about, for the logs.
    enum Kind: String, Codable {
        case newDevice = "new_device"
        case invitation
    }

    // managed fields
    @ID(key: .id) var id: UUID?
    @Field(key: "created_at") var createdAt: Date

    // data fields
    @Field(key: "kind") var kind: Kind
    @Field(key: "recipient") var recipient: String
    @Field(key: "subject") var subject: String
    @Field(key: "text_body") var textBody: String
    @Field(key: "html_body") var htmlBody: String
    @Field(key: "attempts") var attempts: Int
    @Field(key: "next_attempt_at") var nextAttemptAt: Date
    @OptionalField(key: "sent_at") var sentAt: Date?
    /// Set when the server refused the message itself, or after the last retry.
    @OptionalField(key: "failed_at") var failedAt: Date?
    @OptionalField(key: "last_error") var lastError: String?
    /// The claim of one sender: until `lease_expires_at`, no other sender takes the message.
    @OptionalField(key: "lease_id") var leaseID: UUID?
    @OptionalField(key: "lease_expires_at") var leaseExpiresAt: Date?

    init() {}

    init(kind: Kind, recipient: String, subject: String, textBody: String, htmlBody: String, at now: Date) {
        self.kind = kind
        self.recipient = recipient
        self.subject = subject
        self.textBody = textBody
        self.htmlBody = htmlBody
        self.createdAt = now
        self.attempts = 0
        self.nextAttemptAt = now
    }
}

struct CreateOutboxMessages: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(OutboxMessage.schema)
            .id()
            .field("created_at", .datetime, .required)
            .field("kind", .string, .required)
            .field("recipient", .string, .required)
            .field("subject", .string, .required)
            .field("text_body", .string, .required)
            .field("html_body", .string, .required)
            .field("attempts", .int, .required, .sql(.default(0)))
            .field("next_attempt_at", .datetime, .required)
            .field("sent_at", .datetime)
            .field("failed_at", .datetime)
            .field("last_error", .string)
            .field("lease_id", .uuid)
            .field("lease_expires_at", .datetime)
            .create()
        try await database.createIndex(
            on: OutboxMessage.schema,
            named: "outbox_messages_next_attempt_at",
            columns: "next_attempt_at"
        )
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OutboxMessage.schema).delete()
    }
}
