import Vapor

/// The company's OpenID Connect provider, for sign-in: its settings, discovery document and keys.
final class OIDCProvider: Sendable {
    let settings: OIDCSettings
    let discovery: ProviderDiscovery
    let keys: ProviderKeySet

    init(_ settings: OIDCSettings, app: Application) {
        let discovery = ProviderDiscovery(issuer: settings.issuer, provider: .oidc)
        self.settings = settings
        self.discovery = discovery
        self.keys = ProviderKeySet(provider: .oidc) { [unowned app] in
            guard let url = try await discovery.document(at: app.clock.now, app: app).jwksURI else {
                throw ProviderFetch.Failure(description: "the discovery document names no jwks_uri")
            }
            return url
        }
    }
}

/// The issuer of the company's session JWTs, for the guard: its settings and keys. The keys'
/// URL is `EXTERNAL_JWT_JWKS_URL`, else the issuer's discovery document's `jwks_uri`, else
/// `<issuer>/.well-known/jwks.json`.
final class ExternalJWTIssuer: Sendable {
    let settings: ExternalJWTSettings
    let keys: ProviderKeySet
    let expectations: ProviderJWT.Expectations

    init(_ settings: ExternalJWTSettings, app: Application) {
        self.settings = settings
        self.expectations = ProviderJWT.Expectations(
            issuer: settings.issuer,
            audience: settings.audience,
            authorizedParties: settings.authorizedParties.isEmpty ? nil : settings.authorizedParties,
            idToken: nil
        )
        let discovery = ProviderDiscovery(issuer: settings.issuer, provider: .externalJWT)
        self.keys = ProviderKeySet(provider: .externalJWT) { [unowned app] in
            if let url = settings.jwksURL { return url }
            if let url = try? await discovery.document(at: app.clock.now, app: app).jwksURI { return url }
            return (settings.issuer.hasSuffix("/") ? String(settings.issuer.dropLast()) : settings.issuer)
                + "/.well-known/jwks.json"
        }
    }
}

extension Application {
    private struct OIDCProviderKey: StorageKey {
        typealias Value = OIDCProvider
    }

    private struct ExternalJWTIssuerKey: StorageKey {
        typealias Value = ExternalJWTIssuer
    }

    /// Set by `configure` when `OIDC_ISSUER` is.
    var oidcProvider: OIDCProvider? {
        get { storage[OIDCProviderKey.self] }
        set { storage[OIDCProviderKey.self] = newValue }
    }

    /// Set by `configure` when `EXTERNAL_JWT_ISSUER` is.
    var externalJWTIssuer: ExternalJWTIssuer? {
        get { storage[ExternalJWTIssuerKey.self] }
        set { storage[ExternalJWTIssuerKey.self] = newValue }
    }

    func useIdentityProviders(_ config: PortalConfig) {
        oidcProvider = config.oidc.map { OIDCProvider($0, app: self) }
        externalJWTIssuer = config.externalJWT.map { ExternalJWTIssuer($0, app: self) }
        // The portal's only outbound requests go to these providers: none may redirect them, and
        // no answer is read past `ProviderFetch.maxBody`.
        http.client.configuration.redirectConfiguration = .disallow
        clients.use { app in
            BoundedHTTPClient(
                http: app.http.client.shared,
                eventLoop: app.eventLoopGroup.any(),
                maxBody: ProviderFetch.maxBody
            )
        }
    }
}

/// Fetches the providers' keys at start-up, so the first sign-in or JWT need not wait and
/// `portal_identity_provider_up` says at once whether they are reachable.
struct IdentityProviderWarmUp: LifecycleHandler {
    func didBootAsync(_ app: Application) async throws {
        let providers = [app.oidcProvider?.keys, app.externalJWTIssuer?.keys].compactMap { $0 }
        guard !providers.isEmpty else { return }
        Task { [app] in
            for keys in providers { await keys.warm(at: app.clock.now, app: app) }
        }
    }
}
