import Fluent
import Vapor

/// What every way of signing in ends with once it knows who the person is (a right password,
/// the provider's word, an account just made from an invitation): a new web session replacing
/// the browser's old one, its cookie secret stored only as a hash, the audit event with the
/// method, and the cookie.
enum WebSignIn {
    static func complete(
        as user: User,
        method: PortalMetrics.SignInMethod,
        next: String,
        req: Request,
        activeOrganizationID: UUID? = nil
    ) async throws -> Response {
        if let old = req.signedIn {
            try await WebSession.query(on: req.db).filter(\.$id == old.sessionID).delete()
        }
        let secret = OpaqueSecret.hex()
        let session = WebSession(
            tokenHash: OpaqueSecret.hash(secret),
            csrfToken: OpaqueSecret.hex(),
            userID: try user.requireID(),
            expiresAt: req.now.addingTimeInterval(SessionCookie.lifetime),
            ip: req.clientIP,
            userAgent: req.userAgent
        )
        session.$activeOrganization.id = activeOrganizationID
        try await session.create(on: req.db)
        try await AuditEvent.record(
            .signInSucceeded,
            by: .user(try user.requireID(), email: user.email, from: req),
            about: AuditSubject(userID: user.id, label: user.email),
            details: ["method": method.rawValue],
            on: req.db
        )
        req.metrics.signIn(method, succeeded: true)
        let response = req.redirect(to: next, redirectType: .normal)
        response.cookies[SessionCookie.name] = SessionCookie.value(secret, secure: req.application.servesHTTPS)
        return response
    }

    /// A refused sign-in: audited as `signin.failed` with the method and a reason from a closed set.
    static func audit(
        failureOf method: PortalMetrics.SignInMethod,
        reason: String,
        about subject: AuditSubject?,
        req: Request
    ) async throws {
        try await AuditEvent.record(
            .signInFailed,
            by: AuditActor(userID: nil, label: "anonymous", ip: req.clientIP, userAgent: req.userAgent),
            about: subject,
            details: ["method": method.rawValue, "reason": reason],
            on: req.db
        )
        req.metrics.signIn(method, succeeded: false)
    }
}
