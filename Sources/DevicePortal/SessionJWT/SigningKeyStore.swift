import Crypto
import Fluent
import JWTKit
import NIOConcurrencyHelpers
import Vapor

/// The signing keys as this instance sees them. The database is the truth (every instance
/// signs and verifies with the same keys); this keeps a copy for at most `refreshInterval`,
/// and reloads at once when a JWT names a key it has not seen, as after a rotation elsewhere.
final class SigningKeyStore: Sendable {
    struct Snapshot: Sendable {
        let loadedAt: Date
        let keys: JWTKeyCollection
        let signingKID: String
        let kids: Set<String>
        let jwks: JWKSDocument
    }

    static let refreshInterval: TimeInterval = 30
    /// Allowance for clocks that disagree between instances and clients.
    static let leeway: TimeInterval = 30

    private let secret: PortalSecret
    private let jwtTTL: TimeInterval
    private let snapshot = NIOLockedValueBox<Snapshot?>(nil)

    init(secret: PortalSecret, jwtTTL: Int) {
        self.secret = secret
        self.jwtTTL = TimeInterval(jwtTTL)
    }

    /// The keys, reloaded when older than the refresh interval.
    func current(on db: any Database, now: Date = Date()) async throws -> Snapshot {
        if let snapshot = snapshot.withLockedValue({ $0 }),
            now.timeIntervalSince(snapshot.loadedAt) < Self.refreshInterval
        {
            return snapshot
        }
        return try await reload(on: db, now: now)
    }

    /// The keys, reloaded unless just loaded: for a kid this instance has not seen.
    func refreshed(on db: any Database, now: Date = Date()) async throws -> Snapshot {
        if let snapshot = snapshot.withLockedValue({ $0 }), now.timeIntervalSince(snapshot.loadedAt) < 1 {
            return snapshot
        }
        return try await reload(on: db, now: now)
    }

    private func reload(on db: any Database, now: Date) async throws -> Snapshot {
        var usable = try await Self.usableKeys(on: db, now: now, jwtTTL: jwtTTL)
        if !usable.contains(where: { $0.retiredAt == nil }) {
            // The first JWT of a new deployment makes the first key; two instances doing so at
            // once leave two active keys, both published, which is harmless.
            let key = try SigningKey(sealingWith: secret)
            try await key.create(on: db)
            usable.append(key)
        }
        guard
            let signing = usable.filter({ $0.retiredAt == nil }).max(by: {
                ($0.createdAt ?? now) < ($1.createdAt ?? now)
            })
        else { throw SigningKey.SealingError() }
        let keys = JWTKeyCollection()
        var jwks: [JWKSDocument.Key] = []
        for key in usable {
            let identifier = JWKIdentifier(string: key.kid)
            if key.kid == signing.kid {
                await keys.add(
                    ecdsa: try ES256PrivateKey(backing: try key.privateKey(unsealingWith: secret)),
                    kid: identifier
                )
            } else {
                await keys.add(ecdsa: try ES256PublicKey(backing: try Self.publicKey(of: key)), kid: identifier)
            }
            jwks.append(try JWKSDocument.Key(kid: key.kid, publicKey: try Self.publicKey(of: key)))
        }
        let fresh = Snapshot(
            loadedAt: now,
            keys: keys,
            signingKID: signing.kid,
            kids: Set(usable.map(\.kid)),
            jwks: JWKSDocument(keys: jwks)
        )
        snapshot.withLockedValue { $0 = fresh }
        return fresh
    }

    /// Active keys, and retired ones that may still have signed a live JWT.
    static func usableKeys(on db: any Database, now: Date, jwtTTL: TimeInterval) async throws -> [SigningKey] {
        let cutoff = now.addingTimeInterval(-(jwtTTL + refreshInterval + leeway))
        return try await SigningKey.query(on: db)
            .group(.or) { $0.filter(\.$retiredAt == nil).filter(\.$retiredAt > cutoff) }
            .all()
    }

    /// Adds a new key and retires the others; their public keys stay published until JWTs
    /// they signed have expired.
    static func rotate(secret: PortalSecret, on db: any Database) async throws -> SigningKey {
        let key = try SigningKey(sealingWith: secret)
        try await db.transaction { tx in
            try await SigningKey.query(on: tx).filter(\.$retiredAt == nil).set(\.$retiredAt, to: Date()).update()
            try await key.create(on: tx)
        }
        return key
    }

    private static func publicKey(of key: SigningKey) throws -> P256.Signing.PublicKey {
        guard let data = Data(base64Encoded: key.publicKey) else { throw SigningKey.SealingError() }
        return try P256.Signing.PublicKey(x963Representation: data)
    }
}

/// `GET /.well-known/jwks.json`: the public keys, never a private one.
struct JWKSDocument: Content, Sendable {
    struct Key: Content, Sendable {
        var kty = "EC"
        var crv = "P-256"
        var use = "sig"
        var alg = "ES256"
        let kid: String
        let x: String
        let y: String

        init(kid: String, publicKey: P256.Signing.PublicKey) throws {
            let point = publicKey.x963Representation  // 0x04 ‖ X ‖ Y
            self.kid = kid
            x = point.dropFirst().prefix(32).base64URLEncoded
            y = point.suffix(32).base64URLEncoded
        }
    }

    let keys: [Key]
}
