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

    /// A live token with its client and organization, as the API and the devices page show it.
    struct LiveToken {
        let token: APIToken
        let client: OAuthClient
        let organization: Organization
    }

    /// The user's live tokens, in one organization or in all, newest first; never the tokens themselves.
    static func liveTokens(of userID: UUID, in organizationID: UUID?, on db: any Database) async throws -> [TokenDTO] {
        try await live(of: userID, in: organizationID, on: db).map { live in
            TokenDTO(
                id: try live.token.requireID(),
                client: .init(clientID: live.client.clientID, name: live.client.name),
                deviceName: live.token.deviceName,
                organization: OrganizationDTO(live.organization),
                createdAt: live.token.createdAt?.formatted(.iso8601),
                lastUsedAt: live.token.lastUsedAt?.formatted(.iso8601),
                lastUsedIP: live.token.lastUsedIP,
                expiresAt: live.token.expiresAt.formatted(.iso8601)
            )
        }
    }

    static func live(of userID: UUID, in organizationID: UUID?, on db: any Database) async throws -> [LiveToken] {
        var query = APIToken.query(on: db).filter(\.$user.$id == userID)
        if let organizationID { query = query.filter(\.$organization.$id == organizationID) }
        let tokens =
            try await query
            .filter(\.$revokedAt == nil)
            .filter(\.$expiresAt > Date())
            .join(OAuthClient.self, on: \APIToken.$client.$id == \OAuthClient.$id)
            .join(Organization.self, on: \APIToken.$organization.$id == \Organization.$id)
            .sort(\.$createdAt, .descending)
            .all()
        return try tokens.map {
            LiveToken(
                token: $0,
                client: try $0.joined(OAuthClient.self),
                organization: try $0.joined(Organization.self)
            )
        }
    }

    @Sendable static func list(req: Request) async throws -> Items {
        // A credential acts in its own organization only.
        let principal = try req.principal
        return Items(items: try await liveTokens(of: principal.user.id, in: principal.organization.id, on: req.db))
    }

    @Sendable static func delete(req: Request) async throws -> HTTPStatus {
        let principal = try req.principal
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("You have no token with that id.")
        }
        try await TokenRevocation.revoke(
            .id(id, userID: principal.user.id, organizationID: principal.organization.id),
            reason: .user,
            audit: .user(principal.user.id, email: principal.user.email, from: req),
            on: req.db,
            metrics: req.metrics
        )
        return .noContent
    }
}
