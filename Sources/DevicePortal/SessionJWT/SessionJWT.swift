import Fluent
import JWTKit
import Vapor

/// The claims of a session JWT.
struct SessionClaims: JWTPayload {
    let iss: IssuerClaim
    let sub: SubjectClaim
    /// The organization the JWT acts in.
    let org: String
    /// The web session's opaque id, never its cookie value.
    let sid: String
    let iat: IssuedAtClaim
    let exp: ExpirationClaim

    /// Time and issuer are checked by `SessionJWT.verify`, which knows the clock and the issuer.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Minting and checking session JWTs: ES256, `kid` in the header.
enum SessionJWT {
    enum Failure: String, Error {
        case malformed, algorithm, unknownKey = "unknown_key", signature, issuer, expired, notYetValid = "not_yet_valid"

        var description: String {
            switch self {
            case .malformed: "The credential is not a valid API token or session JWT."
            case .algorithm: "The session JWT must be signed with ES256 and name its key."
            case .unknownKey: "The session JWT names an unknown key."
            case .signature: "The session JWT's signature is not valid."
            case .issuer: "The session JWT was issued by someone else."
            case .expired: "The session JWT has expired."
            case .notYetValid: "The session JWT is not valid yet."
            }
        }
    }

    struct Verified {
        let userID: UUID
        let organizationID: UUID
        let sessionID: UUID
        let expiresAt: Date
    }

    static func mint(
        userID: UUID,
        organizationID: UUID,
        sessionID: UUID,
        app: Application,
        on db: any Database
    ) async throws -> String {
        let now = app.clock.now
        let keys = try await app.signingKeys.current(on: db, now: now)
        let claims = SessionClaims(
            iss: IssuerClaim(value: app.publicBaseURL),
            sub: SubjectClaim(value: userID.uuidString),
            org: organizationID.uuidString,
            sid: sessionID.uuidString,
            iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(TimeInterval(app.config.sessionJWTTTL)))
        )
        return try await keys.keys.sign(claims, kid: JWKIdentifier(string: keys.signingKID))
    }

    /// Checks the header, the signature with a known key, the issuer and the time; the
    /// session and the membership are the guard's to check.
    static func verify(
        _ token: String,
        app: Application,
        on db: any Database,
        now: Date
    ) async throws
        -> Verified
    {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Data(base64URLEncoded: parts[0]),
            let fields = try? JSONDecoder().decode(HeaderFields.self, from: header)
        else { throw Failure.malformed }
        // Only the algorithm the portal signs with: no `none`, no HMAC keyed with a public key.
        guard fields.alg == "ES256", let kid = fields.kid else { throw Failure.algorithm }
        var keys = try await app.signingKeys.current(on: db, now: now)
        if !keys.kids.contains(kid) { keys = try await app.signingKeys.refreshed(on: db, now: now) }
        guard keys.kids.contains(kid) else { throw Failure.unknownKey }
        let claims: SessionClaims
        do {
            claims = try await keys.keys.verify(token, as: SessionClaims.self)
        } catch {
            throw Failure.signature
        }
        guard claims.iss.value == app.publicBaseURL else { throw Failure.issuer }
        guard claims.exp.value > now.addingTimeInterval(-SigningKeyStore.leeway) else { throw Failure.expired }
        guard claims.iat.value <= now.addingTimeInterval(SigningKeyStore.leeway) else { throw Failure.notYetValid }
        guard let userID = UUID(uuidString: claims.sub.value), let organizationID = UUID(uuidString: claims.org),
            let sessionID = UUID(uuidString: claims.sid)
        else { throw Failure.malformed }
        return Verified(
            userID: userID,
            organizationID: organizationID,
            sessionID: sessionID,
            expiresAt: claims.exp.value
        )
    }

    private struct HeaderFields: Decodable {
        let alg: String?
        let kid: String?
    }
}

extension Application {
    private struct SigningKeysKey: StorageKey {
        typealias Value = SigningKeyStore
    }

    var signingKeys: SigningKeyStore {
        get { configured(SigningKeysKey.self) }
        set { storage[SigningKeysKey.self] = newValue }
    }
}
