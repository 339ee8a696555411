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
