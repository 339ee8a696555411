import Fluent
import Vapor

/// Whose account a verified ID token signs in to. An account is linked to (issuer, `sub`)
/// once; a first sign-in links to an existing account only when the provider says the email
/// is verified and it matches; otherwise a new account is made if `OIDC_AUTO_CREATE` allows.
enum AccountLinking {
    static func account(for claims: ProviderClaims, provider: OIDCSettings, on db: any Database) async throws -> User {
        guard let subject = claims.string("sub"), LinkedIdentity.isValid(subject: subject) else {
            throw SignInFailure.badIDToken(.malformed)
        }
        if let linked = try await LinkedIdentity.find(issuer: provider.issuer, subject: subject, on: db),
            let user = try await User.find(linked.$user.id, on: db)
        {
            return user
        }
        let email = claims.string("email").map(User.normalize(email:))
        guard let email, User.isValid(email: email), claims.flag("email_verified") else {
            throw SignInFailure.unverifiedEmail(email)
        }
        return try await db.transaction { tx in
            let user: User
            if let existing = try await User.find(email: email, on: tx) {
                let links = try await LinkedIdentity.query(on: tx)
                    .filter(\.$user.$id == existing.requireID())
                    .filter(\.$issuer == provider.issuer)
                    .count()
                guard links == 0 else { throw SignInFailure.linkedElsewhere(existing) }
                try await takeOver(existing, on: tx)
                user = existing
            } else {
                guard provider.autoCreate else { throw SignInFailure.noAccount(email) }
                // No password: this account signs in through the provider (or gets one later).
                user = User(email: email, name: displayName(claims, email: email), passwordHash: User.noPassword)
                try await user.create(on: tx)
            }
            try await LinkedIdentity(issuer: provider.issuer, subject: subject, userID: try user.requireID())
                .create(on: tx)
            return user
        }
    }

    /// The provider now vouches for the person behind this email; whoever set the account up may
    /// not have been them (an invitation's link is shown to the inviter too, who could have made
    /// the account and its password). So its password, its browsers' sessions and its devices'
    /// tokens end here, once: from now on it is the provider's person's alone.
    private static func takeOver(_ account: User, on tx: any Database) async throws {
        let userID = try account.requireID()
        account.passwordHash = User.noPassword
        try await account.update(on: tx)
        try await WebSession.query(on: tx).filter(\.$user.$id == userID).delete()
        try await TokenRevocation.revoke(.all(userID: userID, organizationID: nil), reason: .user, audit: nil, on: tx)
    }

    /// `name`, else given and family names, else the email's local part; printable and at most 100 characters.
    static func displayName(_ claims: ProviderClaims, email: String) -> String {
        let given = [claims.string("given_name"), claims.string("family_name")].compactMap { $0 }.joined(separator: " ")
        let candidates = [claims.string("name"), given, String(email.prefix { $0 != "@" })]
        for candidate in candidates.compactMap({ $0 }) {
            let cleaned = String(
                String.UnicodeScalarView(candidate.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f })
            ).trimmingCharacters(in: .whitespaces)
            if !cleaned.isEmpty { return String(cleaned.clipped(to: 100)) }
        }
        return email
    }
}
