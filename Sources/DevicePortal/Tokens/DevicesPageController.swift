import Fluent
import Vapor

/// `/settings/devices`: the signed-in person's API tokens, each with a revoke button, and
/// "sign out all devices".
enum DevicesPageController {
    struct DevicesPage: Encodable {
        struct Row: Encodable {
            let id: UUID
            let clientName: String
            let deviceName: String?
            let organizationName: String
            let signedIn: ShownDate?
            let lastUsed: ShownDate?
            let lastUsedIP: String?
            let expires: ShownDate
        }

        let tokens: [Row]
        let hasTokens: Bool
        /// "1 device is signed in as you", "2 devices are …".
        let summary: String
        let csrfToken: String
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        let tokens = try await MyTokensController.live(of: signedIn.userID, in: nil, on: req.db)
        let now = req.now
        return try await req.renderPage(
            "settings/devices",
            title: "Your devices",
            DevicesPage(
                tokens: try tokens.map { live in
                    .init(
                        id: try live.token.requireID(),
                        clientName: live.client.name,
                        deviceName: live.token.deviceName,
                        organizationName: live.organization.name,
                        signedIn: live.token.createdAt.map { ShownDate($0, now: now) },
                        lastUsed: live.token.lastUsedAt.map { ShownDate($0, now: now) },
                        lastUsedIP: live.token.lastUsedIP,
                        expires: ShownDate(live.token.expiresAt, now: now)
                    )
                },
                hasTokens: !tokens.isEmpty,
                summary: Wording.count(tokens.count, "device") + (tokens.count == 1 ? " is" : " are")
                    + " signed in as you.",
                csrfToken: signedIn.csrfToken
            )
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
