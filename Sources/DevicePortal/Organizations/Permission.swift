/// What a role may do in its organization. The raw values are the contract's names.
public enum Permission: String, CaseIterable, Codable, Sendable, Comparable {
    case membersRead = "members:read"
    case membersManage = "members:manage"
    case rolesManage = "roles:manage"
    case tokensManage = "tokens:manage"
    case auditRead = "audit:read"
    case queriesRead = "queries:read"
    case queriesRun = "queries:run"
    case sqlRun = "sql:run"
    case slackPost = "slack:post"

    /// `allCases` builds a new array on every call; /me sorts with this on every request.
    private static let contractOrder = allCases
    private static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    public static func < (lhs: Permission, rhs: Permission) -> Bool {
        contractOrder.firstIndex(of: lhs)! < contractOrder.firstIndex(of: rhs)!
    }

    /// Permissions as stored in `roles.permissions`: comma-separated, in contract order.
    static func encode(_ permissions: Set<Permission>) -> String {
        permissions.sorted().map(\.rawValue).joined(separator: ",")
    }

    /// Unknown names are dropped: the column only ever holds names this type wrote.
    static func decode(_ stored: String) -> Set<Permission> {
        Set(stored.split(separator: ",").compactMap { byName[String($0)] })
    }
}

/// The roles every organization has without defining them.
enum BuiltInRole: String, CaseIterable {
    case owner, admin, member, viewer

    var permissions: Set<Permission> {
        switch self {
        case .owner, .admin: Set(Permission.allCases)
        case .member: [.membersRead, .queriesRead, .queriesRun, .sqlRun, .slackPost]
        case .viewer: [.membersRead, .queriesRead]
        }
    }
}
