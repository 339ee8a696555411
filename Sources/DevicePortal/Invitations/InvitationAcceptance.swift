import Fluent
import SQLKit
import Vapor

/// Opening an invitation's link and taking it up: as the account with that email, or by
/// creating that account there. Each way uses the invitation up in the transaction that
/// makes the membership, after the organization's lock, so a link works once.
enum InvitationAcceptance {
    /// The invitation a link names, with its organization and role; nil for a link nobody made.
    static func find(secret: String, on db: any Database) async throws -> Invitation? {
        guard InvitationLink.isWellFormed(secret) else { return nil }
        return try await Invitation.query(on: db).filter(\.$secretHash == OpaqueSecret.hash(secret))
            .with(\.$organization).with(\.$role).first()
    }

    /// Makes the signed-in account a member with the invitation's role.
    static func accept(
        secret: String,
        userID: UUID,
        from req: Request,
        on db: any Database
    ) async throws -> Invitation {
        try await db.transaction { tx in
            let invitation = try await lockPending(secret, at: req.now, on: tx)
            guard let user = try await User.find(userID, on: tx), user.email == invitation.email else {
                throw Refusal.wrongAccount(invitation.email)
            }
            try await join(user, invitation, from: req, on: tx)
            return invitation
        }
    }

    /// Creates the account of the invitation's email (none may exist) and makes it a member.
    /// The password is hashed before the transaction: bcrypt holds no lock.
    static func acceptCreatingAccount(
        secret: String,
        name: String,
        passwordHash: String,
        from req: Request,
        on db: any Database
    ) async throws -> (User, Invitation) {
        do {
            return try await db.transaction { tx in
                let invitation = try await lockPending(secret, at: req.now, on: tx)
                guard try await User.find(email: invitation.email, on: tx) == nil else {
                    throw Refusal.accountExists(invitation.email)
                }
                let user = User(email: invitation.email, name: name, passwordHash: passwordHash)
                try await user.create(on: tx)
                try await join(user, invitation, from: req, on: tx)
                return (user, invitation)
            }
        } catch let error as any DatabaseError where error.isConstraintFailure {
            // Another path (the command line, the directory) made the account a moment ago.
            throw Refusal.accountExists(try await find(secret: secret, on: db)?.email ?? "this email")
        }
    }

    /// The invitation, read after its organization's lock, if it can still be accepted. The lock
    /// is the first statement: a SQLite transaction that reads before it writes cannot wait for
    /// another writer, it fails at once.
    private static func lockPending(_ secret: String, at now: Date, on tx: any Database) async throws -> Invitation {
        guard InvitationLink.isWellFormed(secret) else { throw Refusal.unknown }
        let subquery: SQLQueryString =
            "SELECT organization_id FROM invitations WHERE secret_hash = \(bind: OpaqueSecret.hash(secret))"
        try await tx.sql.raw("UPDATE organizations SET slug = slug WHERE id = (\(subquery))").run()
        guard let invitation = try await find(secret: secret, on: tx) else { throw Refusal.unknown }
        if let refusal = Refusal.of(invitation.state(at: now)) { throw refusal }
        return invitation
    }

    private static func join(
        _ user: User,
        _ invitation: Invitation,
        from req: Request,
        on tx: any Database
    ) async throws {
        let userID = try user.requireID()
        let organizationID = invitation.$organization.id
        if try await Membership.find(userID: userID, organizationID: organizationID, on: tx) != nil {
            throw Refusal.alreadyMember(invitation.organization.name)
        }
        try await Membership(userID: userID, organizationID: organizationID, roleID: invitation.$role.id).create(on: tx)
        invitation.acceptedAt = req.now
        invitation.$acceptedBy.id = userID
        try await invitation.update(on: tx)
        try await AuditEvent.record(
            .invitationAccepted,
            by: .user(userID, email: user.email, from: req),
            in: organizationID,
            about: AuditSubject(userID: userID, label: user.email),
            details: [
                "role": invitation.role.name, "invitation_id": try invitation.requireID().uuidString,
                "invited_by": invitation.invitedBy,
            ],
            on: tx
        )
    }

    /// Why a link cannot be taken up, as the page says it.
    enum Refusal {
        static let unknown = PageError(
            status: .notFound,
            title: "Invitation not found",
            message:
                "This invitation link is not valid. Check that you opened the whole link, or ask for a new invitation."
        )

        /// 410 for a link that worked once; nil while it can still be accepted.
        static func of(_ state: Invitation.State) -> PageError? {
            switch state {
            case .pending:
                nil
            case .accepted:
                PageError(
                    status: .gone,
                    title: "Invitation already used",
                    message:
                        "This invitation has been accepted already: a link works once. Sign in to reach the organization."
                )
            case .withdrawn:
                PageError(
                    status: .gone,
                    title: "Invitation withdrawn",
                    message:
                        "This invitation was withdrawn or replaced by a newer one. Ask whoever invited you for a new link."
                )
            case .expired:
                PageError(
                    status: .gone,
                    title: "Invitation expired",
                    message:
                        "This invitation has expired (invitations last 7 days). Ask whoever invited you for a new one."
                )
            }
        }

        static func wrongAccount(_ email: String) -> PageError {
            PageError(
                status: .forbidden,
                title: "Signed in as someone else",
                message: "This invitation is for \(email). Sign out, then open the link again."
            )
        }

        static func accountExists(_ email: String) -> PageError {
            PageError(
                status: .conflict,
                title: "The account exists",
                message: "There is already an account for \(email): sign in to accept the invitation."
            )
        }

        static func alreadyMember(_ organization: String) -> PageError {
            PageError(
                status: .conflict,
                title: "Already a member",
                message: "You are already a member of \(organization), so this invitation changes nothing."
            )
        }
    }
}
