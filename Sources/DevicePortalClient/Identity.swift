import Foundation

/// A portal user, as the token endpoint and `/me` describe them.
public struct PortalUser: Codable, Equatable, Sendable {
    public let id: String
    public let email: String
    public let name: String
}

/// An organization: the one a token acts in.
public struct PortalOrganization: Codable, Equatable, Sendable {
    public let id: String
    public let slug: String
    public let name: String
}

/// What an approved device receives (RFC 8628 §3.5, DevicePortal's token response).
public struct SignedIn: Sendable {
    public let token: AccessToken
    /// Seconds the token stays valid from now.
    public let expiresIn: Int
    public let user: PortalUser
    public let organization: PortalOrganization
}

/// `GET /me`: who a token acts as right now, with the user's current role.
public struct Identity: Equatable, Sendable {
    public struct Role: Equatable, Sendable {
        public let name: String
        public let permissions: [String]
    }

    public let user: PortalUser
    public let organization: PortalOrganization
    public let role: Role
    /// `api_token` for a token from the device flow, `session` for a session JWT.
    public let credentialType: String
    public let expiresAt: Date?
}

extension SignedIn: Decodable {
    enum CodingKeys: String, CodingKey {
        case token = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case user, organization
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let tokenType = try container.decode(String.self, forKey: .tokenType)
        guard tokenType.caseInsensitiveCompare("Bearer") == .orderedSame else {
            throw DecodingError.dataCorruptedError(
                forKey: .tokenType,
                in: container,
                debugDescription: "token_type \(tokenType) is not Bearer"
            )
        }
        let token = try container.decode(String.self, forKey: .token)
        guard Self.isBearerToken(token) else {
            throw DecodingError.dataCorruptedError(
                forKey: .token,
                in: container,
                debugDescription: "not an RFC 6750 bearer token"
            )
        }
        self.token = AccessToken(token)
        expiresIn = try container.decode(Int.self, forKey: .expiresIn)
        user = try container.decode(PortalUser.self, forKey: .user)
        organization = try container.decode(PortalOrganization.self, forKey: .organization)
    }
}

extension SignedIn {
    /// RFC 6750 §2.1's `b64token`, at most 4096 characters (the longest token the portal takes
    /// back): a token is sent in a header and stored, so it must not carry line breaks or controls.
    static func isBearerToken(_ token: String) -> Bool {
        let bytes = Array(token.utf8)
        guard (1...4096).contains(bytes.count) else { return false }
        let body = bytes.prefix { $0 != UInt8(ascii: "=") }
        guard !body.isEmpty, bytes.dropFirst(body.count).allSatisfy({ $0 == UInt8(ascii: "=") }) else { return false }
        return body.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
                UInt8(ascii: "/"):
                true
            default: false
            }
        }
    }
}

extension Identity: Decodable {
    enum CodingKeys: String, CodingKey {
        case user, organization, role, auth
    }

    struct RoleBody: Decodable {
        let name: String
        let permissions: [String]
    }

    struct AuthBody: Decodable {
        let type: String
        let expiresAt: String?

        enum CodingKeys: String, CodingKey {
            case type
            case expiresAt = "expires_at"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        user = try container.decode(PortalUser.self, forKey: .user)
        organization = try container.decode(PortalOrganization.self, forKey: .organization)
        let role = try container.decode(RoleBody.self, forKey: .role)
        self.role = Role(name: role.name, permissions: role.permissions)
        let auth = try container.decode(AuthBody.self, forKey: .auth)
        credentialType = auth.type
        expiresAt = auth.expiresAt.flatMap(Self.parseDate)
    }

    /// RFC 3339, with or without fractional seconds.
    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
