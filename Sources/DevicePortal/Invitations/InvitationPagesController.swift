import Fluent
import Vapor

/// `/invitations/{secret}`: the page an invitation's link opens, and its two ways in:
/// accepting as the signed-in account with that email, or creating that account here.
enum InvitationPagesController {
    struct InvitationPage: Encodable {
        let path: String
        let organizationName: String
        let role: String
        let invitedBy: String
        let email: String
        let expires: ShownDate
        /// Signed in as the invited email, and not yet a member.
        let canAccept: Bool
        let isMember: Bool
        /// Signed in as someone else, whose email this is.
        let signedInAs: String?
        let isSignedIn: Bool
        let signInURL: String
        /// Nobody signed in and no account has the invited email.
        let canCreateAccount: Bool
        let name: String
        let error: String?
        let csrfToken: String
    }

    struct AccountForm: Content {
        let name: String?
        let password: String?
    }

    @Sendable static func show(req: Request) async throws -> Response {
        try await page(req, for: try await pending(req), name: "", error: nil, status: .ok)
    }

    /// The signed-in account takes the invitation up; anyone else is sent back to the page.
    @Sendable static func accept(req: Request) async throws -> Response {
        guard let signedIn = req.signedIn else { return req.redirect(to: req.invitationPath, redirectType: .normal) }
        let invitation = try await InvitationAcceptance.accept(
            secret: req.invitationSecret,
            userID: signedIn.userID,
            from: req,
            on: req.db
        )
        try await WebSession.query(on: req.db).filter(\.$id == signedIn.sessionID)
            .set(\.$activeOrganization.$id, to: invitation.$organization.id).update()
        return req.redirect(to: landing(invitation), redirectType: .normal)
    }

    /// Creates the invited account (name and password, the usual password rules) and signs it in.
    @Sendable static func createAccount(req: Request) async throws -> Response {
        guard req.application.config.passwordSignIn else {
            throw PageError.forbidden("Passwords are turned off here: sign in with your company account to accept.")
        }
        guard req.signedIn == nil else {
            throw PageError.forbidden("You are signed in already: sign out to create another account.")
        }
        let invitation = try await pending(req)
        let form = try req.content.decode(AccountForm.self)
        let name = (form.name ?? "").trimmingCharacters(in: .whitespaces)
        let password = form.password ?? ""
        let problem =
            name.isEmpty || !name.fits(100) || name.containsControlCharacters
            ? "Give your name, in at most 100 characters." : Passwords.problem(with: password)
        if let problem {
            return try await page(
                req,
                for: invitation,
                name: name.clipped(to: 100),
                error: problem,
                status: .unprocessableEntity
            )
        }
        let (user, accepted) = try await InvitationAcceptance.acceptCreatingAccount(
            secret: req.invitationSecret,
            name: name,
            passwordHash: try await req.password.async.hash(password),
            from: req,
            on: req.db
        )
        return try await WebSignIn.complete(
            as: user,
            method: .password,
            next: landing(accepted),
            req: req,
            activeOrganizationID: accepted.$organization.id
        )
    }

    /// The invitation the link names, if it can still be accepted; else its 404 or 410 page.
    private static func pending(_ req: Request) async throws -> Invitation {
        guard let invitation = try await InvitationAcceptance.find(secret: req.invitationSecret, on: req.db) else {
            throw InvitationAcceptance.Refusal.unknown
        }
        if let refusal = InvitationAcceptance.Refusal.of(invitation.state(at: req.now)) { throw refusal }
        return invitation
    }

    private static func page(
        _ req: Request,
        for invitation: Invitation,
        name: String,
        error: String?,
        status: HTTPStatus
    ) async throws -> Response {
        let signedIn = req.signedIn
        let isInvitee = signedIn?.email == invitation.email
        var isMember = false
        if let signedIn, isInvitee {
            isMember =
                try await Membership.find(
                    userID: signedIn.userID,
                    organizationID: invitation.$organization.id,
                    on: req.db
                ) != nil
        }
        let accountExists = try await User.find(email: invitation.email, on: req.db) != nil
        var signIn = URLComponents()
        signIn.path = "/login"
        signIn.queryItems = [URLQueryItem(name: "next", value: req.invitationPath)]
        // Before sign-in the form's token is checked against a cookie of its own.
        let anonymous = signedIn == nil ? CSRFMiddleware.anonymousToken(for: req) : nil
        let response = try await req.renderPage(
            "invitations/show",
            title: "Invitation to \(invitation.organization.name)",
            InvitationPage(
                path: req.invitationPath,
                organizationName: invitation.organization.name,
                role: invitation.role.name,
                invitedBy: invitation.invitedBy,
                email: invitation.email,
                expires: ShownDate(invitation.expiresAt, now: req.now),
                canAccept: isInvitee && !isMember,
                isMember: isMember,
                signedInAs: isInvitee ? nil : signedIn?.email,
                isSignedIn: signedIn != nil,
                signInURL: signIn.string ?? "/login",
                // Only where passwords sign people in: otherwise the invitee signs in through the provider.
                canCreateAccount: signedIn == nil && !accountExists && req.application.config.passwordSignIn,
                name: name,
                error: error,
                csrfToken: signedIn?.csrfToken ?? anonymous?.token ?? ""
            ),
            status: status
        )
        if let anonymous {
            response.cookies[CSRFMiddleware.cookieName(https: req.application.servesHTTPS)] = anonymous.cookie
        }
        return response
    }

    /// Where a new member goes: their organization's members page when their role may read it.
    private static func landing(_ invitation: Invitation) -> String {
        invitation.role.permissions.contains(.membersRead)
            ? "/orgs/\(invitation.organization.slug)/members" : SafeRedirect.fallback
    }
}

extension Request {
    fileprivate var invitationSecret: String { parameters.get("secret") ?? "" }
    fileprivate var invitationPath: String { InvitationLink.path(invitationSecret) }
}
