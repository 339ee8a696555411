import Fluent
import Vapor

/// A person's own API tokens ("my devices"): `GET /api/me/tokens`, `DELETE /api/me/tokens/{id}`.
enum MyTokensController {
    struct TokenDTO: Content {
        struct ClientDTO: Content {
            let clientID: String
            let name: String
            enum CodingKeys: String, CodingKey {
                case clientID = "client_id"
                case name
            }
        }

        let id: UUID
        let client: ClientDTO
        let deviceName: String?
        let organization: OrganizationDTO
        let createdAt: String?
        let lastUsedAt: String?
        let lastUsedIP: String?
        let expiresAt: String

        enum CodingKeys: String, CodingKey {
            case id, client, organization
            case deviceName = "device_name"
            case createdAt = "created_at"
            case lastUsedAt = "last_used_at"
            case lastUsedIP = "last_used_ip"
            case expiresAt = "expires_at"
        }
    }

    struct Items: Content {
        let items: [TokenDTO]
    }

    /// The user's live tokens, newest first; never the tokens themselves.
    static func liveTokens(of userID: UUID, on db: any Database) async throws -> [TokenDTO] {
        let tokens = try await APIToken.query(on: db)
            .filter(\.$user.$id == userID)
            .filter(\.$revokedAt == nil)
            .filter(\.$expiresAt > Date())
            .join(OAuthClient.self, on: \APIToken.$client.$id == \OAuthClient.$id)
            .join(Organization.self, on: \APIToken.$organization.$id == \Organization.$id)
            .sort(\.$createdAt, .descending)
            .all()
        return try tokens.map { token in
            let client = try token.joined(OAuthClient.self)
            return TokenDTO(
                id: try token.requireID(), client: .init(clientID: client.clientID, name: client.name),
                deviceName: token.deviceName, organization: OrganizationDTO(try token.joined(Organization.self)),
                createdAt: token.createdAt?.formatted(.iso8601), lastUsedAt: token.lastUsedAt?.formatted(.iso8601),
                lastUsedIP: token.lastUsedIP, expiresAt: token.expiresAt.formatted(.iso8601))
        }
    }

    /// Revokes one of the user's own tokens; another user's token is as unknown as a made-up id.
    /// Counted in the metrics unless it was revoked already.
    static func revoke(_ tokenID: UUID, of userID: UUID, actor: AuditActor, on req: Request) async throws {
        let revoked = try await req.db.transaction { tx in
            guard
                let token = try await APIToken.query(on: tx).filter(\.$id == tokenID).filter(\.$user.$id == userID)
                    .first()
            else { throw AdminError.notFound("You have no token with that id.") }
            guard token.revokedAt == nil else { return false }
            token.revokedAt = Date()
            token.revokedReason = .user
            try await token.update(on: tx)
            try await AuditEvent.record(
                .tokenRevoked, by: actor, in: token.$organization.id,
                about: AuditSubject(userID: userID, label: actor.label),
                details: ["reason": APIToken.RevocationReason.user.rawValue, "token_id": tokenID.uuidString], on: tx)
            return true
        }
        if revoked { req.metrics.tokensRevoked(1, reason: .user) }
    }

    @Sendable static func list(req: Request) async throws -> Items {
        Items(items: try await liveTokens(of: try req.principal.user.id, on: req.db))
    }

    @Sendable static func delete(req: Request) async throws -> HTTPStatus {
        let principal = try req.principal
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("You have no token with that id.")
        }
        try await revoke(
            id, of: principal.user.id, actor: .user(principal.user.id, email: principal.user.email, from: req),
            on: req)
        return .noContent
    }
}
