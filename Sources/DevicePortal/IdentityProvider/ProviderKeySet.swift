import JWTKit
import NIOConcurrencyHelpers
import Vapor

/// A provider's public signing keys (its JWKS), kept in memory: a cache of public data, which
/// every instance fetches for itself. Fetched on first use; fetched again when a JWT names a
/// key it lacks, or in the background once the keys are `maxAge` old, but never more than once
/// a `minimumRefreshInterval`, so a flood of forged `kid`s costs the provider nothing and a
/// provider that is down costs each request no wait.
final class ProviderKeySet: Sendable {
    /// The keys of one fetch: jwt-kit's collection, and each key's one algorithm.
    struct Keys: Sendable {
        let collection: JWTKeyCollection
        let algorithms: [String: String]
        let fetchedAt: Date

        func algorithm(for kid: String?) -> String? {
            guard let kid else { return algorithms.count == 1 ? algorithms.values.first : nil }
            return algorithms[kid]
        }
    }

    enum Lookup {
        case key(JWTKeyCollection, algorithm: String)
        case unknownKey
        case unavailable
    }

    static let minimumRefreshInterval: TimeInterval = 60
    static let maxAge: TimeInterval = 3_600
    /// Only asymmetric algorithms: never `none`, never HMAC (a public key is not a secret).
    static let asymmetricAlgorithms: Set<String> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]

    private struct State {
        var keys: Keys?
        var lastAttempt: Date?
        var inFlight: Task<Keys?, Never>?
    }

    let provider: IdentityProviderLabel
    private let locate: @Sendable () async throws -> String
    private let state = NIOLockedValueBox(State())

    /// `locate` finds the JWKS URL (a setting, or the provider's discovery document).
    init(provider: IdentityProviderLabel, locate: @escaping @Sendable () async throws -> String) {
        self.provider = provider
        self.locate = locate
    }

    /// The key a JWT's header names, refreshing the keys if allowed. A JWT may leave `kid` out
    /// only while the provider publishes a single key (OpenID Connect Core §10.1).
    func key(kid: String?, at now: Date, app: Application) async -> Lookup {
        let (cached, mayFetch, inFlight) = state.withLockedValue { state in
            (state.keys, Self.mayFetch(state, at: now), state.inFlight)
        }
        if let cached, let algorithm = cached.algorithm(for: kid) {
            if mayFetch, now.timeIntervalSince(cached.fetchedAt) > Self.maxAge {
                _ = startFetch(at: now, app: app)  // in the background: this request keeps the old keys
            }
            return .key(cached.collection, algorithm: algorithm)
        }
        let fetch = inFlight ?? (mayFetch ? startFetch(at: now, app: app) : nil)
        guard let fetch else { return cached == nil ? .unavailable : .unknownKey }
        guard let fresh = await fetch.value else { return cached == nil ? .unavailable : .unknownKey }
        guard let algorithm = fresh.algorithm(for: kid) else { return .unknownKey }
        return .key(fresh.collection, algorithm: algorithm)
    }

    /// Fetches now unless a fetch ran within the last minute (start-up warms the cache this way).
    func warm(at now: Date, app: Application) async {
        guard state.withLockedValue({ Self.mayFetch($0, at: now) }), let fetch = startFetch(at: now, app: app) else {
            return
        }
        _ = await fetch.value
    }

    private static func mayFetch(_ state: State, at now: Date) -> Bool {
        guard state.inFlight == nil else { return false }
        guard let last = state.lastAttempt else { return true }
        return now.timeIntervalSince(last) >= minimumRefreshInterval || now < last
    }

    /// One fetch at a time; concurrent callers wait for the same one.
    private func startFetch(at now: Date, app: Application) -> Task<Keys?, Never>? {
        state.withLockedValue { current -> Task<Keys?, Never>? in
            if let running = current.inFlight { return running }
            guard Self.mayFetch(current, at: now) else { return nil }
            current.lastAttempt = now
            let task = Task { [self] in
                let keys = await fetch(at: now, app: app)
                state.withLockedValue { state in
                    if let keys { state.keys = keys }
                    state.inFlight = nil
                }
                return keys
            }
            current.inFlight = task
            return task
        }
    }

    private func fetch(at now: Date, app: Application) async -> Keys? {
        do {
            let url = try await locate()
            let document = try await ProviderFetch.json(KeySetDocument.self, get: url, client: app.client)
            let keys = try await Self.keys(from: document, fetchedAt: now)
            app.metrics.identityProviderReached(provider, document: .keys, ok: true)
            return keys
        } catch {
            app.metrics.identityProviderReached(provider, document: .keys, ok: false)
            app.logger.warning(
                "could not fetch the identity provider's keys",
                metadata: ["provider": .string(provider.rawValue), "error": .string("\(error)")]
            )
            return nil
        }
    }

    /// The signing keys of a JWKS, each pinned to one asymmetric algorithm: its `alg`, or the
    /// one its type implies. jwt-kit would otherwise take a key's algorithm from the first
    /// JWT's header that names it.
    static func keys(from document: KeySetDocument, fetchedAt: Date) async throws -> Keys {
        let collection = JWTKeyCollection()
        var algorithms: [String: String] = [:]
        var signing: [JWK] = []
        for entry in document.keys {
            guard entry.use == nil || entry.use == "sig", let kid = entry.kid, !kid.isEmpty,
                let algorithm = entry.alg ?? implicitAlgorithm(kty: entry.kty, crv: entry.crv),
                asymmetricAlgorithms.contains(algorithm), var jwk = entry.jwk
            else { continue }
            jwk.algorithm = JWK.Algorithm(rawValue: algorithm)
            algorithms[kid] = algorithm
            signing.append(jwk)
        }
        // RFC 7517 §5: a key that cannot be read (a missing modulus, a point off its curve) is
        // ignored; the others still count.
        var usable: [JWK] = []
        let scratch = JWTKeyCollection()  // jwt-kit reads a key when it is added: this tells which can be
        for jwk in signing where (try? await scratch.add(jwk: jwk)) != nil { usable.append(jwk) }
        algorithms = algorithms.filter { kid, _ in usable.contains { $0.keyIdentifier?.string == kid } }
        guard !usable.isEmpty else { throw ProviderFetch.Failure(description: "the JWKS holds no usable signing key") }
        for jwk in usable {
            // A single key is also the default, for JWTs that name no `kid`.
            _ = try await collection.add(jwk: jwk, isDefault: usable.count == 1)
        }
        return Keys(collection: collection, algorithms: algorithms, fetchedAt: fetchedAt)
    }

    private static func implicitAlgorithm(kty: String?, crv: String?) -> String? {
        switch (kty, crv) {
        case ("RSA", _): "RS256"
        case ("EC", "P-256"): "ES256"
        case ("EC", "P-384"): "ES384"
        case ("EC", "P-521"): "ES512"
        case ("OKP", "Ed25519"): "EdDSA"
        default: nil
        }
    }
}

/// A JWKS as a provider serves it: each key read twice, for the fields jwt-kit ignores
/// (`use`) and as jwt-kit's `JWK`; a key jwt-kit cannot read is skipped, not fatal.
struct KeySetDocument: Decodable {
    struct Entry: Decodable {
        let kid: String?
        let kty: String?
        let crv: String?
        let alg: String?
        let use: String?
        let jwk: JWK?

        init(from decoder: any Decoder) throws {
            let fields = try decoder.container(keyedBy: CodingKeys.self)
            kid = try? fields.decodeIfPresent(String.self, forKey: .kid)
            kty = try? fields.decodeIfPresent(String.self, forKey: .kty)
            crv = try? fields.decodeIfPresent(String.self, forKey: .crv)
            alg = try? fields.decodeIfPresent(String.self, forKey: .alg)
            use = try? fields.decodeIfPresent(String.self, forKey: .use)
            jwk = try? JWK(from: decoder)
        }

        enum CodingKeys: String, CodingKey {
            case kid, kty, crv, alg, use
        }
    }

    let keys: [Entry]
}
