import Vapor

/// `POST /auth/token/revoke` (RFC 7009): the desktop app's sign-out.
enum RevocationController {
    struct Form {
        let token: String?
        let tokenTypeHint: String?

        init(_ form: OAuthForm) throws {
            token = try form["token"]
            tokenTypeHint = try form["token_type_hint"]
        }
    }

    /// 200 whether or not the token existed (RFC 7009 §2.2), so the answer reveals nothing.
    @Sendable static func revoke(req: Request) async throws -> Response {
        let form = try Form(req.oauthForm())
        let token = try requiredParameter(form.token, "token", maxLength: 4_096)
        if OpaqueSecret.isAPITokenShaped(token) {
            try await TokenRevocation.revoke(
                .hash(OpaqueSecret.hash(token)),
                reason: .signOut,
                audit: AuditActor(userID: nil, label: "device sign-out", ip: req.clientIP, userAgent: req.userAgent),
                on: req.db,
                metrics: req.metrics
            )
        }
        return Response(status: .ok, headers: ["Content-Type": "application/json"], body: .init(string: "{}"))
    }
}
