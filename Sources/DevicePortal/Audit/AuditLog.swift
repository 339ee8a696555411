import Fluent
import FluentSQL
import Vapor

/// Reading the audit log of one organization: newest first, a page at a time, filtered by
/// user (as actor or subject) and by kind of event.
enum AuditLog {
    static let maxLimit = 100

    struct Query {
        var limit = 50
        var before: Cursor?
        var userID: UUID?
        /// A person by email: events they did or that were done to them, with or without an account.
        var email: String?
        var kind: AuditEvent.Kind?

        /// Reads `limit`, `before`, `user` and `kind` from the URL; bad values are 400s.
        init(from req: Request) throws {
            if let raw = req.query[String.self, at: "limit"] {
                guard let limit = Int(raw), (1...AuditLog.maxLimit).contains(limit) else {
                    throw AdminError(
                        status: .badRequest,
                        reason: "limit must be a whole number from 1 to \(AuditLog.maxLimit)."
                    )
                }
                self.limit = limit
            }
            if let raw = req.query[String.self, at: "before"], !raw.isEmpty {
                guard let cursor = Cursor(raw) else {
                    throw AdminError(status: .badRequest, reason: "before is not a cursor this API gave.")
                }
                before = cursor
            }
            if let raw = req.query[String.self, at: "user"]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty {
                if let id = UUID(uuidString: raw) {
                    userID = id
                } else if User.isValid(email: User.normalize(email: raw)) {
                    email = User.normalize(email: raw)
                } else {
                    throw AdminError(status: .badRequest, reason: "user must be a user id or an email address.")
                }
            }
            if let raw = req.query[String.self, at: "kind"], !raw.isEmpty {
                guard let kind = AuditEvent.Kind(rawValue: raw) else {
                    let kinds = AuditEvent.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                    throw AdminError(status: .badRequest, reason: "Unknown kind \(raw). Kinds: \(kinds).")
                }
                self.kind = kind
            }
        }
    }

    /// Where a page ended: the id of its last event. Its time is read in SQL, never
    /// round-tripped through a client, so no event is repeated or skipped.
    struct Cursor {
        let id: UUID

        init?(_ text: String) {
            guard let id = UUID(uuidString: text) else { return nil }
            self.id = id
        }

        init(_ event: AuditEvent) throws { id = try event.requireID() }

        var text: String { id.uuidString }
    }

    static func page(
        of organizationID: UUID,
        _ query: Query,
        on db: any Database
    ) async throws
        -> (events: [AuditEvent], next: Cursor?)
    {
        var select = db.sql.select().column("*").from(AuditEvent.schema).where(
            "organization_id",
            .equal,
            organizationID
        )
        if let userID = query.userID {
            select = select.where {
                $0.where("actor_user_id", .equal, userID).orWhere("subject_user_id", .equal, userID)
            }
        }
        if let email = query.email {
            // The labels hold the email as it was then; the ids catch events whose label says otherwise.
            let userID = try await User.find(email: email, on: db)?.id
            select = select.where {
                var matches = $0.where("actor", .equal, email).orWhere("subject", .equal, email)
                if let userID {
                    matches = matches.orWhere("actor_user_id", .equal, userID).orWhere(
                        "subject_user_id",
                        .equal,
                        userID
                    )
                }
                return matches
            }
        }
        if let kind = query.kind { select = select.where("kind", .equal, kind.rawValue) }
        if let before = query.before {
            // A cursor names an event of this organization; anything else was not given by this API.
            let known = try await AuditEvent.query(on: db).filter(\.$id == before.id)
                .filter(\.$organizationID == organizationID).count()
            guard known == 1 else {
                throw AdminError(status: .badRequest, reason: "before is not a cursor this API gave.")
            }
            let time: SQLQueryString = "(SELECT occurred_at FROM audit_events WHERE id = \(bind: before.id))"
            select = select.where(
                "(occurred_at < \(time) OR (occurred_at = \(time) AND id < \(bind: before.id)))" as SQLQueryString
            )
        }
        let events = try await select.orderBy("occurred_at", .descending).orderBy("id", .descending)
            .limit(query.limit + 1).all(decodingFluent: AuditEvent.self)
        let page = Array(events.prefix(query.limit))
        return (page, events.count > query.limit ? try page.last.map(Cursor.init) : nil)
    }
}

/// An audit event as the API shows it.
struct AuditEventDTO: Content {
    struct Party: Content {
        let userID: UUID?
        let label: String?
        enum CodingKeys: String, CodingKey {
            case userID = "user_id"
            case label
        }
    }

    let id: UUID
    let occurredAt: String
    let kind: String
    let actor: Party
    let subject: Party?
    let ip: String?
    let userAgent: String?
    let details: [String: String]

    enum CodingKeys: String, CodingKey {
        case id, kind, actor, subject, ip, details
        case occurredAt = "occurred_at"
        case userAgent = "user_agent"
    }

    init(_ event: AuditEvent) throws {
        id = try event.requireID()
        occurredAt = event.occurredAt.formatted(.iso8601)
        kind = event.kind.rawValue
        actor = Party(userID: event.actorUserID, label: event.actor)
        subject = event.subject.map { Party(userID: event.subjectUserID, label: $0) }
        ip = event.ip
        userAgent = event.userAgent
        details = (try? JSONDecoder().decode([String: String].self, from: Data(event.details.utf8))) ?? [:]
    }
}
