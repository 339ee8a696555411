import Foundation

/// The endpoints a client needs, from the server's RFC 8414 metadata.
public struct PortalMetadata: Equatable, Sendable {
    public let issuer: URL
    public let deviceAuthorizationEndpoint: URL
    public let tokenEndpoint: URL
    public let revocationEndpoint: URL
    public let grantTypesSupported: [String]
}

extension PortalMetadata: Decodable {
    enum CodingKeys: String, CodingKey {
        case issuer
        case deviceAuthorizationEndpoint = "device_authorization_endpoint"
        case tokenEndpoint = "token_endpoint"
        case revocationEndpoint = "revocation_endpoint"
        case grantTypesSupported = "grant_types_supported"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func url(_ key: CodingKeys) throws -> URL {
            let text = try container.decode(String.self, forKey: key)
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
                ["http", "https"].contains(scheme),
                url.host != nil
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: key,
                    in: container,
                    debugDescription: "\(key.rawValue) is not an http(s) URL: \(text)"
                )
            }
            return url
        }
        issuer = try url(.issuer)
        deviceAuthorizationEndpoint = try url(.deviceAuthorizationEndpoint)
        tokenEndpoint = try url(.tokenEndpoint)
        revocationEndpoint = try url(.revocationEndpoint)
        grantTypesSupported = try container.decodeIfPresent([String].self, forKey: .grantTypesSupported) ?? []
    }
}

extension PortalMetadata {
    /// RFC 8414 §3.1: the well-known segment goes between the host and any path of the issuer.
    static func wellKnownURL(for server: URL) -> URL? {
        guard var components = URLComponents(url: server, resolvingAgainstBaseURL: false) else { return nil }
        let path = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        components.path = "/.well-known/oauth-authorization-server" + path
        components.query = nil
        components.fragment = nil
        return components.url
    }

    /// The first endpoint that is not on the issuer's origin (scheme, host and port) or carries a
    /// user name or password: the client sends its device code and token to the issuer alone.
    func endpointOutsideIssuer() -> (name: String, url: URL)? {
        let origin = Origin(issuer)
        let endpoints = [
            ("device_authorization_endpoint", deviceAuthorizationEndpoint), ("token_endpoint", tokenEndpoint),
            ("revocation_endpoint", revocationEndpoint),
        ]
        return endpoints.first { _, url in
            origin == nil || Origin(url) != origin || url.user != nil || url.password != nil
        }
    }

    /// RFC 8414 §3.3: the metadata counts only when its `issuer` is the server asked. Scheme and
    /// host compare without case, a default port equals no port, and a trailing slash is ignored.
    static func isSameIssuer(_ issuer: URL, _ server: URL) -> Bool {
        func normalized(_ url: URL) -> String? {
            guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false),
                let scheme = components.scheme?.lowercased(), let host = components.host?.lowercased()
            else { return nil }
            let port = components.port ?? (scheme == "https" ? 443 : 80)
            let path = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
            return "\(scheme)://\(host):\(port)\(path)"
        }
        guard let issuer = normalized(issuer), let server = normalized(server) else { return false }
        return issuer == server
    }
}
