import Foundation
import JWTKit
import Vapor

/// Checks a JWT that an identity provider signed: an ID token at sign-in, or a company
/// session JWT at the guard. The header first (an asymmetric algorithm, the one its key is
/// pinned to), then the signature by jwt-kit, then the claims against what the caller
/// expects and the clock. Nothing in the token is believed before its signature is.
enum ProviderJWT {
    enum Failure: String, Error, CaseIterable {
        case malformed, algorithm
        case unknownKey = "unknown_key"
        case keysUnavailable = "keys_unavailable"
        case signature, issuer, audience
        case authorizedParty = "authorized_party"
        case expired
        case notYetValid = "not_yet_valid"
        case nonce

        var description: String {
            switch self {
            case .malformed: "The JWT is malformed."
            case .algorithm: "The JWT must be signed with an asymmetric algorithm (RS256, ES256, EdDSA…)."
            case .unknownKey: "The JWT names a key the issuer does not publish."
            case .keysUnavailable: "The issuer's keys cannot be fetched right now."
            case .signature: "The JWT's signature is not valid."
            case .issuer: "The JWT was issued by someone else."
            case .audience: "The JWT is meant for another audience."
            case .authorizedParty: "The JWT was issued to a party that is not authorized here."
            case .expired: "The JWT has expired."
            case .notYetValid: "The JWT is not valid yet."
            case .nonce: "The ID token does not answer this sign-in."
            }
        }
    }

    /// What the claims must say.
    struct Expectations: Sendable {
        let issuer: String
        /// When set, `aud` must contain it.
        let audience: String?
        /// When set, `azp` must be present and one of these.
        let authorizedParties: [String]?
        /// An ID token's rules (OpenID Connect Core §3.1.3.7): `iat` required, `azp` (when
        /// present, or when there are several audiences) must be the client, `nonce` must match.
        let idToken: (clientID: String, nonce: String)?
    }

    static let leeway: TimeInterval = 60
    static let maxLength = 16 * 1024

    static func verify(
        _ token: String,
        keys: ProviderKeySet,
        expecting expected: Expectations,
        at now: Date,
        app: Application
    ) async throws -> ProviderClaims {
        let header = try Self.header(of: token)
        guard let alg = header.alg, ProviderKeySet.asymmetricAlgorithms.contains(alg), header.crit == nil,
            header.kid?.isEmpty != true
        else { throw Failure.algorithm }
        let collection: JWTKeyCollection
        switch await keys.key(kid: header.kid, at: now, app: app) {
        case .key(let found, let pinned):
            guard pinned == alg else { throw Failure.algorithm }  // no "RS256 key, PS256 header" games
            collection = found
        case .unknownKey: throw Failure.unknownKey
        case .unavailable: throw Failure.keysUnavailable
        }
        let claims: ProviderClaims
        do {
            claims = try await collection.verify(token, as: ProviderClaims.self)
        } catch {
            throw Failure.signature
        }
        try check(claims, expected, at: now)
        return claims
    }

    static func check(_ claims: ProviderClaims, _ expected: Expectations, at now: Date) throws {
        guard claims.string("iss") == expected.issuer else { throw Failure.issuer }
        guard let subject = claims.string("sub"), !subject.isEmpty, subject.utf8.count <= 255 else {
            throw Failure.malformed
        }
        let audiences = claims.strings("aud")
        if let audience = expected.audience, !audiences.contains(audience) { throw Failure.audience }
        let azp = claims.string("azp")
        if let parties = expected.authorizedParties {
            guard let azp, parties.contains(azp) else { throw Failure.authorizedParty }
        }
        guard let expiry = claims.date("exp") else { throw Failure.malformed }
        guard expiry > now.addingTimeInterval(-leeway) else { throw Failure.expired }
        if let notBefore = claims.date("nbf"), notBefore > now.addingTimeInterval(leeway) {
            throw Failure.notYetValid
        }
        let issuedAt = claims.date("iat")
        if let issuedAt, issuedAt > now.addingTimeInterval(leeway) { throw Failure.notYetValid }
        if let (clientID, nonce) = expected.idToken {
            guard issuedAt != nil else { throw Failure.malformed }
            if azp != nil || audiences.count > 1, azp != clientID { throw Failure.authorizedParty }
            guard let sent = claims.string("nonce"), OpaqueSecret.constantTimeEquals(sent, nonce) else {
                throw Failure.nonce
            }
        }
    }

    struct Header: Decodable {
        let alg: String?
        let kid: String?
        let crit: [String]?
    }

    static func header(of token: String) throws -> Header {
        let parts = token.utf8.count <= maxLength ? token.split(separator: ".", omittingEmptySubsequences: false) : []
        guard parts.count == 3, let data = Data(base64URLEncoded: parts[0]),
            let header = try? JSONDecoder().decode(Header.self, from: data)
        else { throw Failure.malformed }
        return header
    }

    /// The `iss` of a JWT, unverified: only to pick which rules check it.
    static func unverifiedIssuer(of token: String) -> String? {
        struct Issuer: Decodable { let iss: String? }
        let parts = token.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= maxLength, let data = Data(base64URLEncoded: parts[1]) else {
            return nil
        }
        return (try? JSONDecoder().decode(Issuer.self, from: data))?.iss
    }
}
