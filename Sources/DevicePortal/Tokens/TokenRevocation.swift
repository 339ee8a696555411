import Fluent
import Foundation
import SQLKit

/// Ending a person's access, the one operation behind every path that does it: a device's own
/// sign-out (RFC 7009), "my devices", an admin, member removal and the command line. In one
/// transaction (the caller's, when it has one) it denies the person's approved device
/// authorizations that were not exchanged yet (so a code approved a minute ago cannot become a
/// token afterwards), revokes the tokens and records the audit event; it counts the metric
/// once that transaction has committed. Revoked tokens stay revoked, whatever happens later.
enum TokenRevocation {
    /// Which tokens end.
    enum Selection: Sendable {
        /// The token with this hash (RFC 7009: whoever holds a token may end it).
        case hash(String)
        /// The token with this id, if it is this user's, and of this organization when one is named.
        case id(UUID, userID: UUID, organizationID: UUID?)
        /// Every live token of the user, in one organization or in all.
        case all(userID: UUID, organizationID: UUID?)
    }

    struct Outcome: Sendable {
        /// Tokens that were live and are now revoked.
        let revokedTokens: Int
        /// Approved device authorizations, not yet exchanged, that are now denied.
        let endedApprovals: Int
    }

    /// Revokes the selection and ends the matching approvals. `audit` records a `token.revoked`
    /// event by that actor (for one token, only when it was live); `nil` when the caller's own
    /// event tells it (member removal). A `.id` that is not the user's throws `AdminError.notFound`.
    @discardableResult
    static func revoke(
        _ selection: Selection,
        reason: APIToken.RevocationReason,
        audit actor: AuditActor?,
        on db: any Database,
        metrics: PortalMetrics? = nil
    ) async throws -> Outcome {
        let outcome = try await db.transaction { tx in
            try await revokeInTransaction(selection, reason: reason, audit: actor, on: tx)
        }
        metrics?.tokensRevoked(outcome.revokedTokens, reason: .init(reason))
        return outcome
    }

    private static func revokeInTransaction(
        _ selection: Selection,
        reason: APIToken.RevocationReason,
        audit actor: AuditActor?,
        on tx: any Database
    ) async throws -> Outcome {
        let now = Date()
        switch selection {
        case .all(let userID, let organizationID):
            // Approvals first: an exchange in flight holds its authorization's row, so this waits
            // for it, and the token it inserted is then seen (and revoked) by the next statement.
            let ended = try await endApprovals(userID: userID, organizationID: organizationID, at: now, on: tx)
            let revoked = try await revokeTokens(
                where: { $0.where("user_id", .equal, userID) },
                organizationID: organizationID,
                reason: reason,
                at: now,
                on: tx
            )
            if let actor {
                try await AuditEvent.record(
                    .tokenRevoked,
                    by: actor,
                    in: organizationID,
                    about: try await subject(userID, on: tx),
                    details: details(reason, ended: ended, ["count": String(revoked.count)]),
                    on: tx
                )
            }
            return Outcome(revokedTokens: revoked.count, endedApprovals: ended)
        case .id(let tokenID, let userID, let organizationID):
            var query = APIToken.query(on: tx).filter(\.$id == tokenID).filter(\.$user.$id == userID)
            if let organizationID { query = query.filter(\.$organization.$id == organizationID) }
            guard let token = try await query.first() else {
                throw AdminError.notFound("You have no token with that id.")
            }
            return try await revokeOne(
                where: { $0.where("id", .equal, tokenID) },
                userID: userID,
                organizationID: token.$organization.id,
                reason: reason,
                audit: actor,
                at: now,
                on: tx
            )
        case .hash(let tokenHash):
            guard
                let row = try await tx.sql.select().columns("user_id", "organization_id").from(APIToken.schema)
                    .where("token_hash", .equal, tokenHash).first()
            else { return Outcome(revokedTokens: 0, endedApprovals: 0) }
            let userID = try row.decode(column: "user_id", as: UUID.self)
            // Whoever holds the token acts as its owner.
            let holder = actor.map { AuditActor(userID: userID, label: $0.label, ip: $0.ip, userAgent: $0.userAgent) }
            return try await revokeOne(
                where: { $0.where("token_hash", .equal, tokenHash) },
                userID: userID,
                organizationID: try row.decode(column: "organization_id", as: UUID.self),
                reason: reason,
                audit: holder,
                at: now,
                on: tx
            )
        }
    }

    /// One token: revoked if it was live, and its owner's approvals in its organization end
    /// either way (signing out a device means no new one appears from an approved code).
    private static func revokeOne(
        where condition: (SQLUpdateBuilder) -> SQLUpdateBuilder,
        userID: UUID,
        organizationID: UUID,
        reason: APIToken.RevocationReason,
        audit actor: AuditActor?,
        at now: Date,
        on tx: any Database
    ) async throws -> Outcome {
        let ended = try await endApprovals(userID: userID, organizationID: organizationID, at: now, on: tx)
        let revoked = try await revokeTokens(
            where: condition,
            organizationID: nil,
            reason: reason,
            at: now,
            on: tx
        )
        if let actor, let tokenID = revoked.first {
            try await AuditEvent.record(
                .tokenRevoked,
                by: actor,
                in: organizationID,
                about: try await subject(userID, on: tx),
                details: details(reason, ended: ended, ["token_id": tokenID.uuidString]),
                on: tx
            )
        }
        return Outcome(revokedTokens: revoked.count, endedApprovals: ended)
    }

    /// Denies the approved, unexchanged device authorizations of a user (in one organization or
    /// all), or of everyone in an organization (its device sign-in was turned off). Their next
    /// poll gets `access_denied`, for good.
    @discardableResult
    static func endApprovals(
        userID: UUID?,
        organizationID: UUID?,
        at now: Date = Date(),
        on db: any Database
    ) async throws -> Int {
        var update = db.sql.update(DeviceAuthorization.schema)
            .set("status", to: DeviceAuthorization.Status.denied.rawValue)
            .set("decided_at", to: now)
            .where("status", .equal, DeviceAuthorization.Status.approved.rawValue)
        if let userID { update = update.where("approved_user_id", .equal, userID) }
        if let organizationID { update = update.where("approved_organization_id", .equal, organizationID) }
        return try await update.returning("id").all().count
    }

    private static func revokeTokens(
        where condition: (SQLUpdateBuilder) -> SQLUpdateBuilder,
        organizationID: UUID?,
        reason: APIToken.RevocationReason,
        at now: Date,
        on db: any Database
    ) async throws -> [UUID] {
        var update = condition(
            db.sql.update(APIToken.schema)
                .set("revoked_at", to: now)
                .set("revoked_reason", to: reason.rawValue)
                .where("revoked_at", .is, SQLLiteral.null)
        )
        if let organizationID { update = update.where("organization_id", .equal, organizationID) }
        return try await update.returning("id").all().map { try $0.decode(column: "id", as: UUID.self) }
    }

    private static func subject(_ userID: UUID, on db: any Database) async throws -> AuditSubject {
        AuditSubject(userID: userID, label: try await User.find(userID, on: db)?.email ?? "token")
    }

    private static func details(
        _ reason: APIToken.RevocationReason,
        ended: Int,
        _ extra: [String: String]
    )
        -> [String: String]
    {
        var details = extra
        details["reason"] = reason.rawValue
        if ended > 0 { details["ended_approvals"] = String(ended) }
        return details
    }
}
