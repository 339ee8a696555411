import Fluent
import Foundation
import SQLKit

/// One sign-in sent to the provider and not back yet. In the database, so that the callback
/// may reach any instance; single-use (deleted when the callback claims it), bound to the
/// browser that started it (a cookie whose hash it keeps), and short-lived.
final class OIDCSignInAttempt: Model, @unchecked Sendable {
    static let schema = "oidc_sign_ins"
    static let lifetime: TimeInterval = 600

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    /// The hash of `state`, which the provider hands back.
    @Field(key: "state_hash") var stateHash: String
    /// The hash of the browser cookie's value.
    @Field(key: "browser_hash") var browserHash: String
    @Field(key: "nonce") var nonce: String
    /// PKCE (RFC 7636): the verifier whose S256 challenge went to the provider.
    @Field(key: "code_verifier") var codeVerifier: String
    @Field(key: "next") var next: String
    @Field(key: "expires_at") var expiresAt: Date

    init() {}

    init(stateHash: String, browserHash: String, nonce: String, codeVerifier: String, next: String, expiresAt: Date) {
        self.stateHash = stateHash
        self.browserHash = browserHash
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.next = next
        self.expiresAt = expiresAt
    }

    /// Takes the attempt that `state` names out of the table, when `browser` (the cookie's
    /// value) is the one that started it: of two callbacks with one `state`, only the one whose
    /// delete removed the row goes on, and a `state` brought by another browser uses nothing up.
    static func claim(state: String, browser: String, on db: any Database) async throws -> OIDCSignInAttempt? {
        try await db.sql.delete(from: schema)
            .where("state_hash", .equal, OpaqueSecret.hash(state))
            .where("browser_hash", .equal, OpaqueSecret.hash(browser))
            .returning(SQLLiteral.all)
            .first()?
            .decode(fluentModel: OIDCSignInAttempt.self)
    }
}

struct CreateOIDCSignInAttempts: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(OIDCSignInAttempt.schema)
            .id()
            .field("state_hash", .string, .required)
            .field("browser_hash", .string, .required)
            .field("nonce", .string, .required)
            .field("code_verifier", .string, .required)
            .field("next", .string, .required)
            .field("expires_at", .datetime, .required)
            .field("created_at", .datetime)
            .unique(on: "state_hash")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OIDCSignInAttempt.schema).delete()
    }
}
