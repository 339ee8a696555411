/// What a role may do in its organization. The raw values are the documented names.
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

    /// Each permission's place in the documented order; /me sorts with it on every request.
    private static let rank = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1, $0) })
    private static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    public static func < (lhs: Permission, rhs: Permission) -> Bool {
        rank[lhs, default: 0] < rank[rhs, default: 0]
    }

    /// Permissions as stored in `roles.permissions`: comma-separated, in the documented order.
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
