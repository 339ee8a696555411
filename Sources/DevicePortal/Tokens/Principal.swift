import Vapor

/// Who a guarded request acts as: a user in one organization with their current role.
struct Principal: Sendable {
    enum Credential: Sendable {
        case apiToken(id: UUID, expiresAt: Date)
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
