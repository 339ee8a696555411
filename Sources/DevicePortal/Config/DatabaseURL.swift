import Foundation

/// Where the data lives: `DATABASE_URL` parsed into one of the supported forms.
public enum DatabaseURL: Sendable, Equatable {
    case sqliteFile(String)
    case sqliteMemory
    case postgres(String)

    public init?(_ raw: String) {
        if raw == "sqlite://:memory:" {
            self = .sqliteMemory
        } else if raw.hasPrefix("sqlite://") {
            let path = String(raw.dropFirst("sqlite://".count))
            guard !path.isEmpty else { return nil }
            self = .sqliteFile(path)
        } else if raw.hasPrefix("postgres://") || raw.hasPrefix("postgresql://") {
            guard let url = URLComponents(string: raw), url.host?.isEmpty == false, url.path.count > 1 else {
                return nil
            }
            self = .postgres(raw)
        } else {
            return nil
        }
    }

    /// `?prepared_statements=true|false` of a PostgreSQL URL; `nil` when not given. A value
    /// other than true or false is an error naming `DATABASE_URL`.
    var preparedStatementsOption: Bool? {
        get throws {
            guard case .postgres(let raw) = self,
                let item = URLComponents(string: raw)?.queryItems?.first(where: {
                    $0.name == Self.preparedStatementsKey
                })
            else { return nil }
            guard let value = item.value.flatMap(PortalConfig.parseBool) else {
                throw ConfigurationError(
                    variable: "DATABASE_URL",
                    value: Self.redacted(raw),
                    expected: "prepared_statements=true or prepared_statements=false in its query"
                )
            }
            return value
        }
    }

    /// The URL without the portal's own query option, which the driver does not know.
    var withoutPreparedStatementsOption: DatabaseURL {
        guard case .postgres(let raw) = self, var url = URLComponents(string: raw),
            let items = url.queryItems, items.contains(where: { $0.name == Self.preparedStatementsKey })
        else { return self }
        let rest = items.filter { $0.name != Self.preparedStatementsKey }
        url.queryItems = rest.isEmpty ? nil : rest
        return url.string.map(DatabaseURL.postgres) ?? self
    }

    private static let preparedStatementsKey = "prepared_statements"

    /// Where the data lives, without any password, for messages and logs.
    var redactedDescription: String {
        switch self {
        case .sqliteFile(let path): "sqlite://" + path
        case .sqliteMemory: "sqlite://:memory:"
        case .postgres(let url): Self.redacted(url)
        }
    }

    /// The URL with any password replaced, for messages and logs.
    static func redacted(_ raw: String) -> String {
        guard var url = URLComponents(string: raw), url.password != nil else { return raw }
        url.password = "***"
        return url.string ?? "***"
    }
}
