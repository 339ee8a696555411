import Fluent
import Vapor

/// `POST /auth/introspect` (RFC 7662): other services ask whether a credential is live and
/// who it acts as. They authenticate as confidential clients with HTTP Basic.
enum IntrospectionController {
    struct Form {
        let token: String?
        let tokenTypeHint: String?

        init(_ form: OAuthForm) throws {
            token = try form["token"]
            tokenTypeHint = try form["token_type_hint"]
        }
    }

    struct Introspection: Content {
        let active: Bool
        var sub: String? = nil
        var org: String? = nil
        var role: String? = nil
        var permissions: [String]? = nil
        var exp: Int? = nil
        var tokenType: String? = nil

        enum CodingKeys: String, CodingKey {
            case active, sub, org, role, permissions, exp
            case tokenType = "token_type"
        }
    }

    @Sendable static func introspect(req: Request) async throws -> Introspection {
        try await authenticateClient(req)
        let form = try Form(req.oauthForm())
        let token = try requiredParameter(form.token, "token", maxLength: 4_096)
        // Anything that is not a live credential is simply inactive (RFC 7662 §2.2).
        guard let principal = try? await CredentialCheck.principal(for: token, request: req, asGuard: false) else {
            return Introspection(active: false)
        }
        return Introspection(
            active: true,
            sub: principal.user.id.uuidString,
            org: principal.organization.id.uuidString,
            role: principal.roleName,
            permissions: principal.permissions.sorted().map(\.rawValue),
            exp: Int(principal.credential.expiresAt.timeIntervalSince1970),
            tokenType: principal.credential.typeName
        )
    }

    /// HTTP Basic with a confidential client's id and secret (RFC 6749 §2.3.1: both form-encoded).
    private static func authenticateClient(_ req: Request) async throws {
        let refusal = JSONError(
            status: .unauthorized,
            error: "invalid_client",
            description: "Authenticate with a confidential client's id and secret (HTTP Basic).",
            headers: ["WWW-Authenticate": #"Basic realm="DevicePortal""#]
        )
        guard let basic = req.headers.basicAuthorization,
            let clientID = basic.username.removingPercentEncoding, OAuthClient.isValid(clientID: clientID),
            let secret = basic.password.removingPercentEncoding,
            let client = try await OAuthClient.find(clientID: clientID, on: req.db),
            let secretHash = client.secretHash,
            OpaqueSecret.constantTimeEquals(secretHash, OpaqueSecret.hash(secret))
        else { throw refusal }
    }
}
