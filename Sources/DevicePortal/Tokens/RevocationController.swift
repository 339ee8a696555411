import Fluent
import SQLKit
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
            let revoked = try await req.db.transaction { tx in
                let revoked = try await tx.sql.update(APIToken.schema)
                    .set("revoked_at", to: Date())
                    .set("revoked_reason", to: APIToken.RevocationReason.signOut.rawValue)
                    .where("token_hash", .equal, OpaqueSecret.hash(token))
                    .where("revoked_at", .is, SQLLiteral.null)
                    .returning("id", "user_id", "organization_id")
                    .first()
                guard let revoked else { return false }
                let userID = try revoked.decode(column: "user_id", as: UUID.self)
                try await AuditEvent.record(
                    .tokenRevoked,
                    by: AuditActor(
                        userID: userID, label: "device sign-out", ip: req.clientIP, userAgent: req.userAgent),
                    in: try revoked.decode(column: "organization_id", as: UUID.self),
                    about: AuditSubject(userID: userID, label: "token"),
                    details: [
                        "reason": APIToken.RevocationReason.signOut.rawValue,
                        "token_id": try revoked.decode(column: "id", as: UUID.self).uuidString,
                    ], on: tx)
                return true
            }
            if revoked { req.metrics.tokensRevoked(1, reason: .signOut) }
        }
        return Response(status: .ok, headers: ["Content-Type": "application/json"], body: .init(string: "{}"))
    }
}
