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
        let tokens = try await MyTokensController.liveTokens(of: signedIn.userID, in: nil, on: req.db)
        return try await req.renderPage(
            "settings/devices",
            title: "Your devices",
            DevicesPage(tokens: tokens, hasTokens: !tokens.isEmpty, csrfToken: signedIn.csrfToken)
        )
    }

    @Sendable static func revoke(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("You have no token with that id.")
        }
        // A signed-in person sees (and ends) the tokens of every organization of theirs.
        try await TokenRevocation.revoke(
            .id(id, userID: signedIn.userID, organizationID: nil),
            reason: .user,
            audit: .user(signedIn.userID, email: signedIn.email, from: req),
            on: req.db,
            metrics: req.metrics
        )
        return req.redirect(to: "/settings/devices", redirectType: .normal)
    }

    @Sendable static func revokeAll(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        try await TokenRevocation.revoke(
            .all(userID: signedIn.userID, organizationID: nil),
            reason: .user,
            audit: .user(signedIn.userID, email: signedIn.email, from: req),
            on: req.db,
            metrics: req.metrics
        )
        return req.redirect(to: "/settings/devices", redirectType: .normal)
    }
}
