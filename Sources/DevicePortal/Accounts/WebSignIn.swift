import Fluent
import Vapor

/// Starting a web session for a person whose identity is settled (a right password, an account
/// just made from an invitation): the browser's previous session ends, the new one's cookie
/// secret is stored only as a hash, and the sign-in is audited.
enum WebSignIn {
    static func start(
        _ user: User,
        req: Request,
        redirectTo next: String,
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
            on: req.db
        )
        let response = req.redirect(to: next, redirectType: .normal)
        response.cookies[SessionCookie.name] = SessionCookie.value(secret, secure: req.application.servesHTTPS)
        return response
    }
}
