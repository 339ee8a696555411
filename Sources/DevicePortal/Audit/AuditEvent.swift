import Fluent
import Vapor

/// One line of the append-only audit log: what happened, when, who did it, to whom, in
/// which organization, from where. Nothing updates or deletes these rows.
final class AuditEvent: Model, @unchecked Sendable {
    static let schema = "audit_events"

    enum Kind: String, Codable, CaseIterable {
        case deviceCodeIssued = "device.code_issued"
        case deviceApproved = "device.approved"
        case deviceDenied = "device.denied"
        case wrongUserCode = "device.wrong_user_code"
        case tokenIssued = "token.issued"
        case tokenRevoked = "token.revoked"
        case memberAdded = "member.added"
        case memberInvited = "member.invited"
        case invitationAccepted = "invitation.accepted"
        case invitationWithdrawn = "invitation.withdrawn"
        case memberRemoved = "member.removed"
        case roleChanged = "member.role_changed"
        case roleCreated = "role.created"
        case roleUpdated = "role.updated"
        case roleDeleted = "role.deleted"
        case settingsChanged = "org.settings_changed"
        case logoChanged = "org.logo_changed"
        case signInSucceeded = "signin.succeeded"
        case signInFailed = "signin.failed"
        case signInThrottled = "signin.throttled"
        case directoryTokenCreated = "scim_token.created"
        case directoryTokenRevoked = "scim_token.revoked"
    }

    // managed fields
    @ID(key: .id) var id: UUID?

    // data fields
    @Field(key: "occurred_at") var occurredAt: Date
    @Field(key: "kind") var kind: Kind
    @OptionalField(key: "organization_id") var organizationID: UUID?
    @OptionalField(key: "actor_user_id") var actorUserID: UUID?
    /// The actor as people read it: an email, "command line", or a client.
    @Field(key: "actor") var actor: String
    @OptionalField(key: "subject_user_id") var subjectUserID: UUID?
    @OptionalField(key: "subject") var subject: String?
    @OptionalField(key: "ip") var ip: String?
    @OptionalField(key: "user_agent") var userAgent: String?
    /// Event-specific facts (a count, a role name, a reason) as a JSON object of strings.
    @Field(key: "details") var details: String

    init() {}

    init(kind: Kind, actor: AuditActor, organizationID: UUID?, subject: AuditSubject?, details: [String: String]) {
        occurredAt = Date()
        self.kind = kind
        self.organizationID = organizationID
        actorUserID = actor.userID
        self.actor = actor.label
        subjectUserID = subject?.userID
        self.subject = subject?.label
        ip = actor.ip
        userAgent = actor.userAgent
        let data = (try? JSONSerialization.data(withJSONObject: details, options: .sortedKeys)) ?? Data("{}".utf8)
        self.details = String(decoding: data, as: UTF8.self)
    }
}

/// Who did something, and from where.
struct AuditActor: Sendable {
    let userID: UUID?
    let label: String
    let ip: String?
    let userAgent: String?

    /// The admin commands act as "command line".
    static let commandLine = AuditActor(userID: nil, label: "command line", ip: nil, userAgent: nil)

    /// The organization's directory, provisioning by SCIM with a directory token.
    static func directory(from req: Request) -> AuditActor {
        AuditActor(userID: nil, label: "directory", ip: req.clientIP, userAgent: req.userAgent)
    }

    static func user(_ id: UUID, email: String, from req: Request) -> AuditActor {
        AuditActor(userID: id, label: email, ip: req.clientIP, userAgent: req.userAgent)
    }

    static func client(_ clientID: String, from req: Request) -> AuditActor {
        AuditActor(userID: nil, label: "client \(clientID)", ip: req.clientIP, userAgent: req.userAgent)
    }
}

/// Whom something was done to.
struct AuditSubject: Sendable {
    let userID: UUID?
    let label: String
}

extension AuditEvent {
    static func record(
        _ kind: Kind,
        by actor: AuditActor,
        in organizationID: UUID? = nil,
        about subject: AuditSubject? = nil,
        details: [String: String] = [:],
        on db: any Database
    ) async throws {
        try await AuditEvent(
            kind: kind,
            actor: actor,
            organizationID: organizationID,
            subject: subject,
            details: details
        )
        .create(on: db)
        // The database's logger is the request's, so the line carries the request id.
        db.logger.info(
            "\(kind.rawValue)",
            metadata: logMetadata(
                kind,
                actor: actor,
                organizationID: organizationID,
                subject: subject,
                details: details
            )
        )
    }

    /// Ids, the IP and the bounded details; never an email, a code or anything a user typed.
    static func logMetadata(
        _ kind: Kind,
        actor: AuditActor,
        organizationID: UUID?,
        subject: AuditSubject?,
        details: [String: String]
    ) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["event": .string(kind.rawValue)]
        if let userID = actor.userID {
            metadata["user_id"] = .string(userID.uuidString)
        } else {
            metadata["actor"] = .string(actor.label)  // "command line", "anonymous" or "client <client_id>"
        }
        if let organizationID { metadata["org_id"] = .string(organizationID.uuidString) }
        if let subjectUserID = subject?.userID, subjectUserID != actor.userID {
            metadata["subject_user_id"] = .string(subjectUserID.uuidString)
        }
        if let ip = actor.ip { metadata["ip"] = .string(ip) }
        for key in loggedDetails { if let value = details[key] { metadata[key] = .string(value) } }
        return metadata
    }

    private static let loggedDetails = [
        "reason", "count", "revoked_tokens", "token_id", "client_id", "role", "from", "to", "invitation_id",
    ]
}

struct CreateAuditEvents: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(AuditEvent.schema)
            .id()
            .field("occurred_at", .datetime, .required)
            .field("kind", .string, .required)
            .field("organization_id", .uuid)
            .field("actor_user_id", .uuid)
            .field("actor", .string, .required)
            .field("subject_user_id", .uuid)
            .field("subject", .string)
            .field("ip", .string)
            .field("user_agent", .string)
            .field("details", .string, .required)
            .create()
        // Deliberately no foreign keys: the log outlives the users and organizations it names.
        try await database.createIndex(
            on: AuditEvent.schema,
            named: "audit_events_org_time",
            columns: "organization_id",
            "occurred_at"
        )
    }

    func revert(on database: any Database) async throws {
        try await database.schema(AuditEvent.schema).delete()
    }
}
