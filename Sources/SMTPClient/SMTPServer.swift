import Foundation

/// Where mail goes and how: read from `smtp://host:port`, `smtp+starttls://host:port` or
/// `smtps://user:pass@host:port` (user and password percent-decoded).
public struct SMTPServer: Sendable, Equatable {
    public enum Security: Sendable, Equatable {
        /// Plain text, for a relay on the same host or network.
        case none
        /// Plain text upgraded with STARTTLS before anything else is said; never downgraded.
        case startTLS
        /// TLS from the first byte (port 465).
        case tls
    }

    public struct Credentials: Sendable, Equatable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var credentials: Credentials?

    public init(host: String, port: Int, security: Security, credentials: Credentials? = nil) {
        self.host = host
        self.port = port
        self.security = security
        self.credentials = credentials
    }

    /// What `init(url:)` accepts, for an error message.
    public static let urlForms =
        "smtp://HOST:PORT, smtp+starttls://USER:PASS@HOST:PORT or smtps://USER:PASS@HOST:PORT (credentials only with TLS)"

    /// `nil` for anything else, and for credentials on plain `smtp://`, which would cross the
    /// network readable by anyone on the way.
    public init?(url raw: String) {
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(),
            let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil,
            url.fragment == nil
        else { return nil }
        switch scheme {
        case "smtp": (security, port) = (.none, url.port ?? 25)
        case "smtp+starttls": (security, port) = (.startTLS, url.port ?? 587)
        case "smtps": (security, port) = (.tls, url.port ?? 465)
        default: return nil
        }
        guard (1...65_535).contains(port) else { return nil }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if let user = url.percentEncodedUser {
            guard security != .none, let username = user.removingPercentEncoding, !username.isEmpty,
                let password = (url.percentEncodedPassword ?? "").removingPercentEncoding
            else { return nil }
            credentials = Credentials(username: username, password: password)
        } else {
            guard url.percentEncodedPassword == nil else { return nil }
            credentials = nil
        }
    }
}
