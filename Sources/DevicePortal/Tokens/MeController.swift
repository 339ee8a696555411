import Vapor

/// `GET /me`: who the credential acts as, right now.
enum MeController {
    /// The answer's shape; `show` writes it by hand (`Me.json`), in this order.
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

        /// The same JSON as `JSONEncoder` writes for this value (nil `token_id` left out).
        var json: JSONWriter {
            var json = JSONWriter()
            json.object { json in
                json.field("user") { json in
                    json.field("id", user.id.uuidString)
                    json.field("email", user.email)
                    json.field("name", user.name)
                }
                json.field("organization") { json in
                    json.field("id", organization.id.uuidString)
                    json.field("slug", organization.slug)
                    json.field("name", organization.name)
                }
                json.field("role") { json in
                    json.field("name", role.name)
                    json.field("permissions", role.permissions)
                }
                json.field("auth") { json in
                    json.field("type", auth.type)
                    if let tokenID = auth.tokenID { json.field("token_id", tokenID.uuidString) }
                    json.field("expires_at", auth.expiresAt)
                }
            }
            return json
        }
    }

    /// Synchronous (no I/O), so that Vapor runs it without starting a task.
    @Sendable static func show(req: Request) throws -> Response {
        me(try req.principal).json.response()
    }

    static func me(_ principal: Principal) -> Me {
        let credential = principal.credential
        var tokenID: UUID? = nil
        if case .apiToken(let id, _) = credential { tokenID = id }
        let auth = Me.Auth(
            type: credential.typeName,
            tokenID: tokenID,
            expiresAt: credential.expiresAt.formatted(.iso8601)
        )
        return Me(
            user: principal.user,
            organization: principal.organization,
            role: Me.Role(name: principal.roleName, permissions: principal.permissions.sorted().map(\.rawValue)),
            auth: auth
        )
    }
}
