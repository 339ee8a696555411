import Fluent
import Foundation
import SMTPClient
import Vapor

/// Adding people to an organization by email: an account that exists becomes a member at
/// once, anyone else gets an invitation. The rules are those of role changes: nobody grants a
/// role holding a permission they lack, and only owners make owners.
enum Invitations {
    static let lifetime: TimeInterval = 7 * 24 * 3600

    /// An invitation just made, with the only copy of its link.
    struct Created: Sendable {
        let invitation: Invitation
        let url: String
    }

    enum Outcome: Sendable {
        case added(userID: UUID)
        case invited(Created)
    }

    /// What the add-or-invite form and the API are given.
    struct Terms: Sendable {
        let email: String
        let roleName: String
        let now: Date
        /// For `PUBLIC_BASE_URL`, which the link starts with, and for the mail.
        let app: Application

        var baseURL: String { app.publicBaseURL }
    }

    /// `POST …/members`: adds an existing account, invites anyone else.
    static func addOrInvite(_ terms: Terms, by caller: Administrator, on db: any Database) async throws -> Outcome {
        try await act(terms, caller, db) { addition, tx in
            let (email, role, admin) = (addition.email, addition.role, addition.admin)
            if let user = addition.account {
                try await withdrawOpen(to: email, reason: "added", by: admin, at: terms.now, on: tx)
                let organization = try await requireOrganization(admin.organizationID, on: tx)
                try await MemberAdministration.add(user, to: organization, as: role, by: admin, on: tx)
                return .added(userID: try user.requireID())
            }
            return .invited(try await create(addition, terms, on: tx))
        }
    }

    /// `POST …/invitations`: always an invitation, even for an existing account (who accepts by signing in).
    static func invite(_ terms: Terms, by caller: Administrator, on db: any Database) async throws -> Created {
        try await act(terms, caller, db) { addition, tx in try await create(addition, terms, on: tx) }
    }

    /// Who is being added, as `act` checked it.
    private struct Addition: Sendable {
        let email: String
        let role: Role
        let admin: Administrator
        /// The account with that email, if there is one (not a member: `act` refused that).
        let account: User?
    }

    /// Makes the invitation, in the caller's transaction. A second invitation to the same email
    /// replaces the first (whose link stops working), so "invite again" is how a lost link is resent.
    private static func create(_ addition: Addition, _ terms: Terms, on tx: any Database) async throws -> Created {
        let (email, role, admin) = (addition.email, addition.role, addition.admin)
        // A mailed invitation needs an address mail can go to: any other would be made, then never arrive.
        guard terms.app.config.mail == nil || MailAddress.isValid(email) else {
            throw AdminError.invalid("\"\(email)\" is an address mail cannot be sent to.")
        }
        try await withdrawOpen(to: email, reason: "replaced", by: admin, at: terms.now, on: tx)
        let secret = OpaqueSecret.base64URL()
        let url = terms.baseURL + InvitationLink.path(secret)
        let invitation = Invitation(
            email: email,
            organizationID: admin.organizationID,
            roleID: try role.requireID(),
            invitedBy: admin.audit,
            secretHash: OpaqueSecret.hash(secret),
            createdAt: terms.now,
            expiresAt: terms.now.addingTimeInterval(lifetime)
        )
        try await invitation.create(on: tx)
        invitation.$role.value = role
        try await AuditEvent.record(
            .memberInvited,
            by: admin.audit,
            in: admin.organizationID,
            about: AuditSubject(userID: addition.account?.id, label: email),
            details: ["role": role.name, "invitation_id": try invitation.requireID().uuidString],
            on: tx
        )
        // Mailed once this transaction commits (nothing happens without SMTP_URL).
        try await InvitationMail.enqueue(
            to: email,
            organizationName: try await requireOrganization(admin.organizationID, on: tx).name,
            invitedBy: admin.audit.label,
            role: role.name,
            url: url,
            expiresAt: invitation.expiresAt,
            at: terms.now,
            app: terms.app,
            on: tx
        )
        return Created(invitation: invitation, url: url)
    }

    /// The organization's invitations that can still be accepted, newest first, roles loaded.
    static func pending(in organizationID: UUID, at now: Date, on db: any Database) async throws -> [Invitation] {
        try await open(in: organizationID, on: db).filter(\.$expiresAt > now).sort(\.$createdAt, .descending)
            .with(\.$role).all()
    }

    static func withdraw(_ id: UUID, by caller: Administrator, at now: Date, on db: any Database) async throws {
        try await db.transaction { tx in
            try await MemberAdministration.lockOrganization(caller.organizationID, on: tx)
            let admin = try await caller.reloaded(on: tx)
            try admin.require(.membersManage)
            guard
                let invitation = try await open(in: admin.organizationID, on: tx).filter(\.$id == id)
                    .filter(\.$expiresAt > now).with(\.$role).first()
            else { throw AdminError.notFound("There is no pending invitation with that id.") }
            try await close(invitation, reason: "withdrawn", by: admin, at: now, on: tx)
        }
    }

    // MARK: helpers

    /// Checks what every way of adding someone checks, then runs `body` in the locked transaction.
    private static func act<Result: Sendable>(
        _ terms: Terms,
        _ caller: Administrator,
        _ db: any Database,
        _ body: @escaping @Sendable (Addition, any Database) async throws -> Result
    ) async throws -> Result {
        try caller.require(.membersManage)
        let email = User.normalize(email: terms.email)
        guard User.isValid(email: email) else { throw AdminError.invalid("\"\(email)\" is not a valid email address.") }
        return try await db.transaction { tx in
            try await MemberAdministration.lockOrganization(caller.organizationID, on: tx)
            let admin = try await caller.reloaded(on: tx)
            try admin.require(.membersManage)
            guard let role = try await Role.find(named: terms.roleName, in: admin.organizationID, on: tx) else {
                throw AdminError.invalid("There is no role named \(terms.roleName.clipped(to: 40)).")
            }
            try MemberAdministration.requireMayGrant(role, admin)
            let account = try await User.find(email: email, on: tx)
            if let account,
                try await Membership.find(userID: account.requireID(), organizationID: admin.organizationID, on: tx)
                    != nil
            {
                throw AdminError.conflict("\(email) is already a member of this organization.")
            }
            return try await body(Addition(email: email, role: role, admin: admin, account: account), tx)
        }
    }

    private static func open(in organizationID: UUID, on db: any Database) -> QueryBuilder<Invitation> {
        Invitation.query(on: db).filter(\.$organization.$id == organizationID).filter(\.$acceptedAt == nil)
            .filter(\.$withdrawnAt == nil)
    }

    /// Closes the open invitation to `email`, if any; taking back an owner's invitation takes an owner.
    private static func withdrawOpen(
        to email: String,
        reason: String,
        by admin: Administrator,
        at now: Date,
        on tx: any Database
    ) async throws {
        guard let old = try await open(in: admin.organizationID, on: tx).filter(\.$email == email).with(\.$role).first()
        else { return }
        try await close(old, reason: reason, by: admin, at: now, on: tx)
    }

    private static func close(
        _ invitation: Invitation,
        reason: String,
        by admin: Administrator,
        at now: Date,
        on tx: any Database
    ) async throws {
        try MemberAdministration.requireMayGrant(invitation.role, admin)
        try await close(invitation, reason: reason, by: admin.audit, in: admin.organizationID, at: now, on: tx)
    }

    /// When someone stops being a member (removed, or deprovisioned by the directory), the
    /// invitations still open to their email go too: a link must not bring them back.
    static func withdrawOpen(
        to email: String,
        in organizationID: UUID,
        by actor: AuditActor,
        at now: Date,
        on tx: any Database
    ) async throws {
        for invitation in try await open(in: organizationID, on: tx).filter(\.$email == email).with(\.$role).all() {
            try await close(invitation, reason: "member_removed", by: actor, in: organizationID, at: now, on: tx)
        }
    }

    private static func close(
        _ invitation: Invitation,
        reason: String,
        by actor: AuditActor,
        in organizationID: UUID,
        at now: Date,
        on tx: any Database
    ) async throws {
        invitation.withdrawnAt = now
        try await invitation.update(on: tx)
        try await AuditEvent.record(
            .invitationWithdrawn,
            by: actor,
            in: organizationID,
            about: AuditSubject(userID: nil, label: invitation.email),
            details: [
                "role": invitation.role.name, "invitation_id": try invitation.requireID().uuidString, "reason": reason,
            ],
            on: tx
        )
    }

    static func requireOrganization(_ id: UUID, on db: any Database) async throws -> Organization {
        guard let organization = try await Organization.find(id, on: db) else {
            throw AdminError.notFound("There is no such organization.")
        }
        return organization
    }
}

/// Where an invitation's link points: `/invitations/<secret>`.
enum InvitationLink {
    static func path(_ secret: String) -> String { "/invitations/" + secret }

    /// The request path as logs may show it: the secret of an invitation link is a credential.
    /// Segments are read as the router reads them (empty ones dropped), so `//invitations//S`,
    /// which reaches the page too, is redacted as well.
    static func redacted(_ path: String) -> String {
        var segments = path.split(separator: "/").map(String.init)
        guard segments.count >= 2, segments[0] == "invitations" else { return path }
        segments[1] = "[secret]"
        return "/" + segments.joined(separator: "/")
    }

    /// A secret this portal could have made: 43 characters of base64url. Anything else is
    /// unknown without a look in the database.
    static func isWellFormed(_ secret: String) -> Bool {
        secret.utf8.count == 43
            && secret.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (48...57).contains(self) || (65...90).contains(self) || (97...122).contains(self)
    }
}
