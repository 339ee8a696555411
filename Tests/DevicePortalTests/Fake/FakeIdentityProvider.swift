import Crypto
import Foundation
import JWTKit
import NIOConcurrencyHelpers
import Vapor

@testable import DevicePortal

/// An OpenID Connect provider and JWT issuer inside the test process, reached through the
/// application's HTTP client: discovery, a JWKS of ES256 keys that a test rotates, and a token
/// endpoint that checks the PKCE verifier and answers with an ID token the test shaped.
/// It counts what was fetched, and can be taken down.
final class FakeIdentityProvider: Sendable {
    static let issuer = "https://login.example.com"
    static let clientID = "portal-client"

    struct SigningKey: Sendable {
        let kid: String
        let key: ES256PrivateKey
    }

    /// What the token endpoint answers a code with.
    struct PendingCode: Sendable {
        let challenge: String
        let claims: [String: ClaimValue]
    }

    private struct State {
        var keys: [SigningKey] = []
        var codes: [String: PendingCode] = [:]
        var fetches: [String: Int] = [:]
        var down = false
        var brokenKeys = false
        var announcedIssuer = issuer
        var lastTokenRequest: String?
    }

    private let state = NIOLockedValueBox(State())

    init() {
        rotate()
    }

    /// Publishes a new key (the old ones stay published) and returns its kid.
    @discardableResult
    func rotate() -> String {
        let key = SigningKey(kid: "key-\(UUID().uuidString.prefix(8))", key: ES256PrivateKey())
        state.withLockedValue { $0.keys.append(key) }
        return key.kid
    }

    var currentKey: SigningKey { state.withLockedValue { $0.keys.last! } }

    func fetches(_ path: String) -> Int { state.withLockedValue { $0.fetches[path, default: 0] } }

    var lastTokenRequest: String? { state.withLockedValue { $0.lastTokenRequest } }

    func setDown(_ down: Bool) { state.withLockedValue { $0.down = down } }

    /// Also publishes keys no one can read: an RSA key without its modulus, an EC point off its curve.
    func publishBrokenKeys() { state.withLockedValue { $0.brokenKeys = true } }

    /// Makes the discovery document name another issuer than the one it is fetched for.
    func announceIssuer(_ issuer: String) { state.withLockedValue { $0.announcedIssuer = issuer } }

    /// Installs this provider as the application's HTTP client.
    func install(in app: Application) {
        app.clients.use { app in FakeProviderClient(provider: self, eventLoop: app.eventLoopGroup.any()) }
    }

    /// Claims as the provider signs them, with sensible defaults a test overrides.
    static func claims(
        subject: String = "sub-ada",
        email: String? = "ada@example.com",
        verified: Bool = true,
        audience: String = clientID,
        issuedAt: Date = Date(),
        lifetime: TimeInterval = 300,
        extra: [String: ClaimValue] = [:]
    ) -> [String: ClaimValue] {
        var claims: [String: ClaimValue] = [
            "iss": .string(issuer),
            "sub": .string(subject),
            "aud": .string(audience),
            "iat": .number(issuedAt.timeIntervalSince1970.rounded(.down)),
            "exp": .number((issuedAt.timeIntervalSince1970 + lifetime).rounded(.down)),
            "email_verified": .bool(verified),
            "name": .string("Ada from the provider"),
        ]
        if let email { claims["email"] = .string(email) }
        return claims.merging(extra) { _, new in new }
    }

    /// A JWT signed with one of the published keys (the newest unless `key` says).
    func sign(_ claims: [String: ClaimValue], key: SigningKey? = nil, kid: String?? = nil) async throws -> String {
        let key = key ?? currentKey
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key.key)
        var header = JWTHeader()
        if case .some(let name) = kid { header.kid = name } else { header.kid = key.kid }
        return try await keys.sign(ProviderClaims(claims), header: header)
    }

    /// What the authorization endpoint would do: remember the code with the request's
    /// challenge, and the ID token's claims (the nonce of the request among them).
    func approve(authorizationURL: String, claims: [String: ClaimValue]) throws -> (code: String, state: String) {
        let query = Dictionary(
            (URLComponents(string: authorizationURL)?.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { first, _ in first }
        )
        guard let challenge = query["code_challenge"], query["code_challenge_method"] == "S256",
            let nonce = query["nonce"], let state = query["state"], query["client_id"] == Self.clientID
        else { throw Abort(.badRequest, reason: "not an authorization request: \(authorizationURL)") }
        let code = UUID().uuidString
        var claims = claims
        if claims["nonce"] == nil { claims["nonce"] = .string(nonce) }
        if case .string("") = claims["nonce"] { claims["nonce"] = nil }
        self.state.withLockedValue { $0.codes[code] = PendingCode(challenge: challenge, claims: claims) }
        return (code, state)
    }

    func answer(_ request: ClientRequest) async throws -> ClientResponse {
        let path = request.url.path
        let down = state.withLockedValue { state in
            state.fetches[path, default: 0] += 1
            return state.down
        }
        if down { throw FakeProviderDown() }
        switch path {
        case "/.well-known/openid-configuration":
            return json([
                "issuer": .string(state.withLockedValue(\.announcedIssuer)),
                "authorization_endpoint": .string(Self.issuer + "/authorize"),
                "token_endpoint": .string(Self.issuer + "/token"),
                "jwks_uri": .string(Self.issuer + "/jwks"),
            ])
        case "/jwks":
            let (keys, broken) = state.withLockedValue { ($0.keys, $0.brokenKeys) }
            var entries: [ClaimValue] = []
            if broken {
                entries.append(.object(["kty": .string("RSA"), "kid": .string("broken-rsa"), "e": .string("AQAB")]))
                entries.append(
                    .object([
                        "kty": .string("EC"), "crv": .string("P-256"), "kid": .string("broken-ec"),
                        "x": .string(String(repeating: "A", count: 43)),
                        "y": .string(String(repeating: "A", count: 43)),
                    ])
                )
            }
            for key in keys {
                guard let parameters = key.key.publicKey.parameters else { throw Abort(.internalServerError) }
                entries.append(
                    .object([
                        "kty": .string("EC"), "crv": .string("P-256"), "use": .string("sig"), "kid": .string(key.kid),
                        "x": .string(parameters.x), "y": .string(parameters.y),
                    ])
                )
            }
            return json(["keys": .array(entries)])
        case "/token":
            return try await token(request)
        default:
            return ClientResponse(status: .notFound)
        }
    }

    private func token(_ request: ClientRequest) async throws -> ClientResponse {
        let body = request.body.map { String(buffer: $0) } ?? ""
        state.withLockedValue { $0.lastTokenRequest = body }
        let fields = Dictionary(
            body.split(separator: "&").map { pair -> (String, String) in
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
                return (parts[0], parts.count > 1 ? parts[1] : "")
            },
            uniquingKeysWith: { first, _ in first }
        )
        guard let code = fields["code"], let verifier = fields["code_verifier"],
            let pending = state.withLockedValue({ $0.codes.removeValue(forKey: code) }),
            Data(SHA256.hash(data: Data(verifier.utf8))).base64URLEncoded == pending.challenge
        else { return json(["error": .string("invalid_grant")], status: .badRequest) }
        return json(["id_token": .string(try await sign(pending.claims)), "token_type": .string("Bearer")])
    }

    private func json(_ object: [String: ClaimValue], status: HTTPStatus = .ok) -> ClientResponse {
        let data = try! JSONEncoder().encode(object)
        return ClientResponse(
            status: status,
            headers: ["Content-Type": "application/json"],
            body: ByteBuffer(data: data)
        )
    }
}

struct FakeProviderDown: Error {}

/// The application's HTTP client while a fake provider is installed.
struct FakeProviderClient: Client {
    let provider: FakeIdentityProvider
    let eventLoop: any EventLoop

    func delegating(to eventLoop: any EventLoop) -> any Client {
        FakeProviderClient(provider: provider, eventLoop: eventLoop)
    }

    func send(_ request: ClientRequest) -> EventLoopFuture<ClientResponse> {
        let provider = provider
        return eventLoop.makeFutureWithTask { try await provider.answer(request) }
    }
}
