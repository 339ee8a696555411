import Fluent
import Vapor

/// `/settings/devices`: the signed-in person's API tokens, each with a revoke button, and
/// "sign out all devices".
enum DevicesPageController {
    struct DevicesPage: Encodable {
        let tokens: [MyTokensController.TokenDTO]
        let hasTokens: Bool
        let csrfToken: String
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        let tokens = try await MyTokensController.liveTokens(of: signedIn.userID, on: req.db)
        return try await req.renderPage(
            "settings/devices", title: "Your devices",
            DevicesPage(tokens: tokens, hasTokens: !tokens.isEmpty, csrfToken: signedIn.csrfToken))
    }

    @Sendable static func revoke(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("You have no token with that id.")
        }
        try await MyTokensController.revoke(
            id, of: signedIn.userID, actor: .user(signedIn.userID, email: signedIn.email, from: req), on: req)
        return req.redirect(to: "/settings/devices", redirectType: .normal)
    }

    @Sendable static func revokeAll(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        let actor = AuditActor.user(signedIn.userID, email: signedIn.email, from: req)
        let count = try await req.db.transaction { tx in
            let count = try await TokenRevocation.revokeAll(
                userID: signedIn.userID, organizationID: nil, reason: .user, on: tx)
            try await AuditEvent.record(
                .tokenRevoked, by: actor, about: AuditSubject(userID: signedIn.userID, label: signedIn.email),
                details: ["reason": APIToken.RevocationReason.user.rawValue, "count": String(count)], on: tx)
            return count
        }
        req.metrics.tokensRevoked(count, reason: .user)
        return req.redirect(to: "/settings/devices", redirectType: .normal)
    }
}
