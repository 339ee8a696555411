import Fluent
import Foundation
import SQLKit
import Vapor

/// The queue of mail in the database. Enqueued in the action's own transaction; sent after it
/// commits by `OutboxSender`. A sender claims one message at a time with a lease, so that many
/// instances never send the same one at once (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite has
/// one writer), and a message whose sender died is taken again once the lease runs out.
enum Outbox {
    /// Longer than the longest conversation the SMTP time-outs allow for one message: 10 s to
    /// connect and 60 s for each of at most 11 replies (greeting, EHLO, STARTTLS, EHLO again, three
    /// for AUTH LOGIN, MAIL FROM, RCPT TO, DATA, the data), 11 minutes in all, and 2 s for QUIT.
    static let lease: TimeInterval = 15 * 60
    static let firstRetryDelay: TimeInterval = 5
    static let longestRetryDelay: TimeInterval = 3_600
    /// With the delays above, about a day of retries before a message is given up.
    static let maximumAttempts = 30
    /// Sent and given-up messages stay this long (housekeeping deletes them), for questions
    /// such as "was it sent?".
    static let retention: TimeInterval = 30 * 86_400

    /// Mail rendered and ready to be stored.
    struct Draft {
        let kind: OutboxMessage.Kind
        let recipient: String
        let subject: String
        let text: String
        let html: String
    }

    /// Renders `Templates/mail/<template>.*.leaf` with `context` and stores the message on `db`
    /// (the action's transaction). Without `SMTP_URL`, renders and stores nothing.
    static func enqueue(
        _ kind: OutboxMessage.Kind,
        to recipient: String,
        subject: String,
        template: String,
        context: some Encodable & Sendable,
        at now: Date,
        app: Application,
        on db: any Database
    ) async throws {
        guard app.config.mail != nil else { return }
        let bodies = try await MailTemplate.render(template, context, app: app)
        let draft = Draft(
            kind: kind,
            recipient: recipient,
            subject: MailTemplate.subject(subject),
            text: bodies.text,
            html: bodies.html
        )
        try await enqueue(draft, at: now, app: app, on: db)
    }

    /// Stores `draft` on `db` (the action's transaction). Without `SMTP_URL`, stores nothing.
    static func enqueue(_ draft: Draft, at now: Date, app: Application, on db: any Database) async throws {
        guard app.config.mail != nil else { return }
        try await OutboxMessage(
            kind: draft.kind,
            recipient: draft.recipient,
            subject: draft.subject,
            textBody: draft.text,
            htmlBody: draft.html,
            at: now
        ).create(on: db)
    }

    /// A message taken by one sender until its lease runs out.
    struct Claimed {
        let id: UUID
        let leaseID: UUID
        let kind: String
        let recipient: String
        let subject: String
        let text: String
        let html: String
        let createdAt: Date
        let attempts: Int
    }

    /// Whether any message is due: a read, so that an idle sender never takes SQLite's write lock.
    static func hasDue(at now: Date, on db: any Database) async throws -> Bool {
        try await db.sql.select().column(SQLLiteral.numeric("1"), as: "due").from(OutboxMessage.schema)
            .where("sent_at", .is, SQLLiteral.null).where("failed_at", .is, SQLLiteral.null)
            .where("next_attempt_at", .lessThanOrEqual, now)
            .limit(1).first() != nil
    }

    /// The most overdue message that is due, unsent, not given up and not held by a live lease,
    /// now leased to the caller; `nil` when there is none. One statement.
    static func claim(at now: Date, on db: any Database) async throws -> Claimed? {
        let leaseID = UUID()
        let skipLocked = db.sql.dialect.name == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        let query: SQLQueryString = """
            UPDATE \(ident: OutboxMessage.schema) SET lease_id = \(bind: leaseID), lease_expires_at = \(bind: now + lease)
            WHERE id IN (SELECT id FROM \(ident: OutboxMessage.schema)
                WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= \(bind: now)
                AND (lease_expires_at IS NULL OR lease_expires_at <= \(bind: now))
                ORDER BY next_attempt_at LIMIT 1\(unsafeRaw: skipLocked))
            RETURNING id, kind, recipient, subject, text_body, html_body, created_at, attempts
            """
        guard let row = try await db.sql.raw(query).first() else { return nil }
        return Claimed(
            id: try row.decode(column: "id", as: UUID.self),
            leaseID: leaseID,
            kind: try row.decode(column: "kind", as: String.self),
            recipient: try row.decode(column: "recipient", as: String.self),
            subject: try row.decode(column: "subject", as: String.self),
            text: try row.decode(column: "text_body", as: String.self),
            html: try row.decode(column: "html_body", as: String.self),
            createdAt: try row.decode(column: "created_at", as: Date.self),
            attempts: try row.decode(column: "attempts", as: Int.self)
        )
    }

    enum Outcome: Equatable {
        case sent
        /// To be tried again after the back-off (or given up, past the last attempt).
        case failed(String)
        /// Refused for good: kept with the error, never tried again.
        case rejected(String)
    }

    /// What became of the attempt, written only while the caller's lease holds; whether it did.
    @discardableResult
    static func record(
        _ outcome: Outcome,
        for message: Claimed,
        at now: Date,
        on db: any Database
    ) async throws
        -> Bool
    {
        let attempts = message.attempts + 1
        var update = db.sql.update(OutboxMessage.schema)
            .set("attempts", to: attempts)
            .set("lease_id", to: SQLLiteral.null)
            .set("lease_expires_at", to: SQLLiteral.null)
        switch outcome {
        case .sent:
            update = update.set("sent_at", to: now).set("last_error", to: SQLLiteral.null)
        case .failed(let error) where attempts >= maximumAttempts:
            update = update.set("failed_at", to: now).set(
                "last_error",
                to: "gave up after \(attempts) attempts: \(error)"
            )
        case .failed(let error):
            update = update.set("next_attempt_at", to: now + retryDelay(afterAttempt: attempts))
                .set("last_error", to: error)
        case .rejected(let error):
            update = update.set("failed_at", to: now).set("last_error", to: error)
        }
        let rows = try await update.where("id", .equal, message.id).where("lease_id", .equal, message.leaseID)
            .returning("id").all()
        return !rows.isEmpty
    }

    /// 5 s, 10 s, 20 s, … doubling up to an hour.
    static func retryDelay(afterAttempt attempt: Int) -> TimeInterval {
        min(longestRetryDelay, firstRetryDelay * pow(2, Double(min(max(attempt, 1), 20) - 1)))
    }

    /// Messages neither sent nor given up, for the gauge.
    static func queuedCount(on db: any Database) async throws -> Int {
        try await db.sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from(OutboxMessage.schema)
            .where("sent_at", .is, SQLLiteral.null).where("failed_at", .is, SQLLiteral.null)
            .first()?.decode(column: "n", as: Int.self) ?? 0
    }
}
