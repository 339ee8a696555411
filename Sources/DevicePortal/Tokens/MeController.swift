import Vapor

/// `GET /me`: who the credential acts as, right now.
enum MeController {
    struct Me: Content {
        struct Role: Content {
            let name: String
            let permissions: [String]
        }

        struct Auth: Content {
            let type: String
            let tokenID: UUID?
            let expiresAt: String

            enum CodingKeys: String, CodingKey {
                case type
                case tokenID = "token_id"
                case expiresAt = "expires_at"
            }
        }

        let user: UserDTO
        let organization: OrganizationDTO
        let role: Role
        let auth: Auth
    }

    @Sendable static func show(req: Request) async throws -> Me {
        let principal = try req.principal
        let auth: Me.Auth
        switch principal.credential {
        case .apiToken(let id, let expiresAt):
            auth = Me.Auth(type: "api_token", tokenID: id, expiresAt: expiresAt.formatted(.iso8601))
        case .session(_, let expiresAt):
            auth = Me.Auth(type: "session", tokenID: nil, expiresAt: expiresAt.formatted(.iso8601))
        }
        return Me(
            user: principal.user, organization: principal.organization,
            role: Me.Role(name: principal.roleName, permissions: principal.permissions.sorted().map(\.rawValue)),
            auth: auth)
    }
}
