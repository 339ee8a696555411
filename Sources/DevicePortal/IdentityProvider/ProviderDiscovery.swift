import NIOConcurrencyHelpers
import Vapor

/// An issuer's OpenID Connect discovery document (`/.well-known/openid-configuration`), the
/// parts the portal uses, each endpoint checked to be https (http only on this machine).
struct DiscoveryDocument: Decodable, Sendable {
    let issuer: String
    let authorizationEndpoint: String?
    let tokenEndpoint: String?
    let jwksURI: String?
    let tokenEndpointAuthMethods: [String]?

    enum CodingKeys: String, CodingKey {
        case issuer
        case authorizationEndpoint = "authorization_endpoint"
        case tokenEndpoint = "token_endpoint"
        case jwksURI = "jwks_uri"
        case tokenEndpointAuthMethods = "token_endpoint_auth_methods_supported"
    }

    /// OpenID Connect Discovery §4.3: the document must name exactly the issuer it was fetched for.
    func checked(for issuer: String) throws -> DiscoveryDocument {
        guard self.issuer == issuer else {
            throw ProviderFetch.Failure(description: "the discovery document names the issuer \(self.issuer)")
        }
        for endpoint in [authorizationEndpoint, tokenEndpoint, jwksURI].compactMap({ $0 }) {
            guard PortalConfig.parseProviderURL(endpoint) != nil else {
                throw ProviderFetch.Failure(description: "the discovery document names an unusable URL \(endpoint)")
            }
        }
        return self
    }
}

/// The discovery document of one issuer, fetched when first needed and kept for an hour; a
/// failed fetch is not retried within `retryInterval`, and a stale document keeps serving
/// while the provider is unreachable, except to a caller that asks for a `fresh` one: the
/// start of a sign-in, which should not send a person to a provider that is down.
final class ProviderDiscovery: Sendable {
    static let maxAge: TimeInterval = 3_600
    static let retryInterval: TimeInterval = 10

    private struct State {
        var document: DiscoveryDocument?
        var fetchedAt: Date?
        var lastFailure: Date?
    }

    let issuer: String
    let provider: IdentityProviderLabel
    private let state = NIOLockedValueBox(State())

    init(issuer: String, provider: IdentityProviderLabel) {
        self.issuer = issuer
        self.provider = provider
    }

    var url: String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
    }

    func document(at now: Date, app: Application, fresh: Bool = false) async throws -> DiscoveryDocument {
        let (cached, fetchedAt, lastFailure) = state.withLockedValue { ($0.document, $0.fetchedAt, $0.lastFailure) }
        if !fresh, let cached, let fetchedAt, now.timeIntervalSince(fetchedAt) < Self.maxAge { return cached }
        if let lastFailure, now.timeIntervalSince(lastFailure) < Self.retryInterval, now >= lastFailure {
            if let cached, !fresh { return cached }
            throw ProviderFetch.Failure(description: "the provider was unreachable moments ago")
        }
        do {
            let document = try await ProviderFetch.json(DiscoveryDocument.self, get: url, client: app.client)
                .checked(for: issuer)
            state.withLockedValue { $0 = State(document: document, fetchedAt: now, lastFailure: nil) }
            app.metrics.identityProviderReached(provider, document: .discovery, ok: true)
            return document
        } catch {
            state.withLockedValue { $0.lastFailure = now }
            app.metrics.identityProviderReached(provider, document: .discovery, ok: false)
            if let cached, !fresh { return cached }
            throw error
        }
    }
}
