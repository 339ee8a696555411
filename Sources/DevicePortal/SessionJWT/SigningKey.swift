import Crypto
import Fluent
import Foundation

/// An ES256 key pair for session JWTs. The private key is stored only sealed with AES-GCM
/// under a key derived from `PORTAL_SECRET`, so a copy of the database alone cannot sign.
final class SigningKey: Model, @unchecked Sendable {
    static let schema = "signing_keys"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "kid") var kid: String
    /// The P-256 public key, X9.63 form, base64.
    @Field(key: "public_key") var publicKey: String
    /// `AES.GCM` combined box (nonce, ciphertext, tag) of the raw private key, base64; the kid is its associated data.
    @Field(key: "sealed_private_key") var sealedPrivateKey: String
    /// Set when a newer key takes over; JWTs it signed stay verifiable until they expire.
    @OptionalField(key: "retired_at") var retiredAt: Date?

    init() {}

    /// A new key pair, sealed with the portal's secret.
    init(sealingWith secret: PortalSecret) throws {
        let privateKey = P256.Signing.PrivateKey()
        kid = OpaqueSecret.base64URL().prefix(16).description
        publicKey = privateKey.publicKey.x963Representation.base64EncodedString()
        let box = try AES.GCM.seal(
            privateKey.rawRepresentation,
            using: Self.sealingKey(secret),
            authenticating: Data(kid.utf8)
        )
        guard let combined = box.combined else { throw SealingError() }
        sealedPrivateKey = combined.base64EncodedString()
    }

    func privateKey(unsealingWith secret: PortalSecret) throws -> P256.Signing.PrivateKey {
        guard let combined = Data(base64Encoded: sealedPrivateKey) else { throw SealingError() }
        let raw = try AES.GCM.open(
            AES.GCM.SealedBox(combined: combined),
            using: Self.sealingKey(secret),
            authenticating: Data(kid.utf8)
        )
        return try P256.Signing.PrivateKey(rawRepresentation: raw)
    }

    private static func sealingKey(_ secret: PortalSecret) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret.bytes),
            info: Data("DevicePortal signing keys v1".utf8),
            outputByteCount: 32
        )
    }

    struct SealingError: Error, CustomStringConvertible {
        var description: String {
            "A signing key cannot be opened with this PORTAL_SECRET: every instance must use the secret the keys were made with."
        }
    }
}

struct CreateSigningKeys: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(SigningKey.schema)
            .id()
            .field("kid", .string, .required)
            .field("public_key", .string, .required)
            .field("sealed_private_key", .string, .required)
            .field("created_at", .datetime)
            .field("retired_at", .datetime)
            .unique(on: "kid")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(SigningKey.schema).delete()
    }
}
