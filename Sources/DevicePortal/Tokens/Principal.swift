import SQLKit
import Vapor

/// Who a guarded request acts as: a user in one organization with their current role.
struct Principal: Sendable {
    enum Credential: Sendable {
        case apiToken(id: UUID, expiresAt: Date)
        case session(id: UUID, expiresAt: Date)
        /// The company's own session JWT (`EXTERNAL_JWT_ISSUER`).
        case externalJWT(expiresAt: Date)

        var expiresAt: Date {
            switch self {
            case .apiToken(_, let expiresAt), .session(_, let expiresAt), .externalJWT(let expiresAt): expiresAt
            }
        }

        /// As `/me`'s `auth.type`, introspection's `token_type` and `X-Portal-Credential` name it.
        var typeName: String {
            switch self {
            case .apiToken: "api_token"
            case .session: "session"
            case .externalJWT: "external_jwt"
            }
        }
    }

    let user: UserDTO
    let organization: OrganizationDTO
    let roleName: String
    let permissions: Set<Permission>
    let credential: Credential

    /// Throws 403 `insufficient_scope` unless the role grants `permission`.
    func require(_ permission: Permission) throws {
        guard permissions.contains(permission) else { throw JSONError.insufficientScope(permission) }
    }
}

extension Principal {
    /// The columns both credential look-ups select, from tables aliased `u` (users),
    /// `o` (organizations) and `r` (the role of the current membership, left-joined).
    static let columns = """
        u.id AS user_id, u.email, u.name AS user_name, o.id AS organization_id, o.slug, \
        o.name AS organization_name, r.name AS role_name, r.permissions
        """

    /// Reads a row with `columns`; `nil` when the user is not (or no longer) a member.
    init?(row: any SQLRow, credential: Credential) throws {
        guard let roleName = try row.decode(column: "role_name", as: String?.self) else { return nil }
        self.init(
            user: UserDTO(
                id: try row.decode(column: "user_id", as: UUID.self),
                email: try row.decode(column: "email", as: String.self),
                name: try row.decode(column: "user_name", as: String.self)
            ),
            organization: OrganizationDTO(
                id: try row.decode(column: "organization_id", as: UUID.self),
                slug: try row.decode(column: "slug", as: String.self),
                name: try row.decode(column: "organization_name", as: String.self)
            ),
            roleName: roleName,
            permissions: Permission.decode(try row.decode(column: "permissions", as: String.self)),
            credential: credential
        )
    }
}

extension Request {
    private struct PrincipalKey: StorageKey {
        typealias Value = Principal
    }

    /// Set by `BearerGuard`; guarded handlers read it, never the auth tables.
    var principal: Principal {
        get throws {
            guard let principal = storage[PrincipalKey.self] else { throw JSONError.missingCredential }
            return principal
        }
    }

    func setPrincipal(_ principal: Principal) {
        storage[PrincipalKey.self] = principal
    }
}
