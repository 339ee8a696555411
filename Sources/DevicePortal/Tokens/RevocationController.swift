import Fluent
import Vapor

/// `POST /auth/token/revoke` (RFC 7009): the desktop app's sign-out.
enum RevocationController {
    struct Form: Decodable {
        let token: String?
        let tokenTypeHint: String?

        enum CodingKeys: String, CodingKey {
            case token
            case tokenTypeHint = "token_type_hint"
        }
    }

    /// 200 whether or not the token existed (RFC 7009 §2.2), so the answer reveals nothing.
    @Sendable static func revoke(req: Request) async throws -> Response {
        let form = try req.oauthForm(Form.self)
        let token = try requiredParameter(form.token, "token", maxLength: 4_096)
        if OpaqueSecret.isAPITokenShaped(token) {
            try await APIToken.query(on: req.db)
                .filter(\.$tokenHash == OpaqueSecret.hash(token))
                .filter(\.$revokedAt == nil)
                .set(\.$revokedAt, to: Date())
                .set(\.$revokedReason, to: .signOut)
                .update()
        }
        return Response(status: .ok, headers: ["Content-Type": "application/json"], body: .init(string: "{}"))
    }
}
