import Fluent
import Vapor

/// `POST /auth/session/token` and `GET /.well-known/jwks.json`.
enum SessionTokenController {
    struct SessionToken: Content {
        let token: String
        let expiresIn: Int

        enum CodingKeys: String, CodingKey {
            case token
            case expiresIn = "expires_in"
        }
    }

    /// For a signed-in browser (the CSRF check runs before): a short-lived JWT for the
    /// session's active organization, or the user's first until they pick one.
    @Sendable static func mint(req: Request) async throws -> SessionToken {
        guard let signedIn = req.signedIn else {
            throw JSONError(status: .unauthorized, error: "unauthorized", description: "Sign in to the portal first.")
        }
        let choices = try await OrganizationChoice.all(of: signedIn.userID, on: req.db)
        guard let organizationID = OrganizationChoice.active(for: signedIn, among: choices)?.id else {
            throw JSONError(
                status: .forbidden,
                error: "no_organization",
                description: "You are not a member of any organization."
            )
        }
        let token = try await SessionJWT.mint(
            userID: signedIn.userID,
            organizationID: organizationID,
            sessionID: signedIn.sessionID,
            app: req.application,
            on: req.db
        )
        return SessionToken(token: token, expiresIn: req.application.config.sessionJWTTTL)
    }

    @Sendable static func jwks(req: Request) async throws -> JWKSDocument {
        try await req.application.signingKeys.current(on: req.db).jwks
    }
}
