import Fluent
import Vapor

/// Web sign-in by password, the sign-in page (with the provider's button when there is one), and sign-out.
enum LoginController {
    struct LoginPage: Encodable {
        let email: String
        let next: String
        let csrfToken: String
        let error: String?
        /// Whether the password form is shown (`PASSWORD_SIGNIN`).
        let passwords: Bool
        /// "Sign in with <OIDC_NAME>", and where it goes; `nil` without a provider.
        let provider: ProviderButton?
    }

    struct ProviderButton: Encodable {
        let name: String
        let url: String
    }

    struct LoginForm: Content {
        let email: String?
        let password: String?
        let next: String?
    }

    struct SignOutForm: Content {
        let next: String?
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let next = SafeRedirect.target(req.query[String.self, at: "next"])
        if req.signedIn != nil { return req.redirect(to: next) }
        return try await page(req, email: "", next: next, error: nil, status: .ok)
    }

    @Sendable static func signIn(req: Request) async throws -> Response {
        let form = try req.content.decode(LoginForm.self)
        guard req.application.config.passwordSignIn else {
            return try await page(
                req,
                email: "",
                next: SafeRedirect.target(form.next),
                error: "Passwords are turned off here: sign in with your company account.",
                status: .forbidden
            )
        }
        let email = User.normalize(email: form.email ?? "")
        let next = SafeRedirect.target(form.next)
        // Counted before the password is checked, so a lockout holds even for the right one.
        let attempt = try await RateLimiter(db: req.db).reserve(
            at: req.now,
            [
                .init(bucket: "signin:account:\(email.clipped(to: 254))", rules: RateLimiter.signInPerAccountRules),
                .init(bucket: "signin:ip:\(req.rateLimitIP)", rules: RateLimiter.signInPerIPRules),
            ]
        )
        if let retryAfter = attempt.retryAfter {
            req.metrics.rateLimitRefusal(.signIn)
            try await auditLockout(of: email, req: req)
            return try await page(
                req,
                email: email,
                next: next,
                error:
                    "Too many sign-in attempts for this account or from this network. Try again in \(PageError.wait(seconds: retryAfter)).",
                status: .tooManyRequests,
                headers: ["Retry-After": String(retryAfter)]
            )
        }
        let found = email.isEmpty ? nil : try await User.find(email: email, on: req.db)
        // Always run bcrypt, even for an unknown email, so both take the same time.
        let matches = try await passwordMatches(req, user: found, password: form.password ?? "")
        guard let user = found, matches else {
            try await WebSignIn.audit(
                failureOf: .password,
                reason: "wrong_password",
                about: AuditSubject(userID: found?.id, label: String(email.clipped(to: 254))),
                req: req
            )
            // The same answer for an unknown email and a wrong password.
            return try await page(
                req,
                email: email,
                next: next,
                error: "The email or the password is not right.",
                status: .unauthorized
            )
        }
        try await attempt.release()  // a success does not count against the limits
        return try await WebSignIn.complete(as: user, method: .password, next: next, req: req)
    }

    /// Back to the sign-in page, or to `next` (a page that asked someone to sign out and come back).
    @Sendable static func signOut(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        try await WebSession.query(on: req.db).filter(\.$id == signedIn.sessionID).delete()
        let next = (try? req.content.decode(SignOutForm.self))?.next.map(SafeRedirect.target) ?? "/login"
        let response = req.redirect(to: next, redirectType: .normal)
        response.cookies[SessionCookie.name] = SessionCookie.expired(secure: req.application.servesHTTPS)
        return response
    }

    /// Checks the password with bcrypt; for an unknown email (`user` nil) against a dummy hash.
    /// A lockout is audited once per account and hour: refused attempts cost no write each, and
    /// guesses at emails that have no account write nothing (the metric still counts them).
    private static func auditLockout(of email: String, req: Request) async throws {
        guard let user = try await User.find(email: email, on: req.db), let userID = user.id else { return }
        let recent = try await AuditEvent.query(on: req.db)
            .filter(\.$kind == .signInThrottled)
            .filter(\.$subjectUserID == userID)
            .filter(\.$occurredAt > req.now.addingTimeInterval(-3_600))
            .count()
        guard recent == 0 else { return }
        try await AuditEvent.record(
            .signInThrottled,
            by: AuditActor(userID: nil, label: "anonymous", ip: req.clientIP, userAgent: req.userAgent),
            about: AuditSubject(userID: userID, label: user.email),
            on: req.db
        )
    }

    private static func passwordMatches(_ req: Request, user: User?, password: String) async throws -> Bool {
        guard !password.isEmpty, password.utf8.count <= Passwords.maxBytes else { return false }
        // An account made by the identity provider or the directory has no password: never a match.
        let stored = user.flatMap { $0.passwordHash == User.noPassword ? nil : $0.passwordHash }
        return try await req.password.async.verify(password, created: stored ?? req.application.dummyPasswordHash)
            && stored != nil
    }

    private static func page(
        _ req: Request,
        email: String,
        next: String,
        error: String?,
        status: HTTPStatus,
        headers: HTTPHeaders = [:]
    ) async throws -> Response {
        // Before sign-in the form's token is checked against a cookie of its own.
        let anonymous = req.signedIn == nil ? CSRFMiddleware.anonymousToken(for: req) : nil
        let csrfToken = req.signedIn?.csrfToken ?? anonymous?.token ?? ""
        let response = try await req.renderPage(
            "login",
            title: "Sign in",
            LoginPage(
                email: email,
                next: next,
                csrfToken: csrfToken,
                error: error,
                passwords: req.application.config.passwordSignIn,
                provider: req.application.oidcProvider.map {
                    ProviderButton(name: $0.settings.name, url: OIDCSignInController.startURL(next: next))
                }
            ),
            status: status,
            headers: headers
        )
        if let anonymous {
            response.cookies[CSRFMiddleware.cookieName(https: req.application.servesHTTPS)] = anonymous.cookie
        }
        return response
    }
}
