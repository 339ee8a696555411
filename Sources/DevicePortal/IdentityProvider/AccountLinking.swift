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
                user = existing
            } else {
                guard provider.autoCreate else { throw SignInFailure.noAccount(email) }
                // No password: this account signs in through the provider (or gets one later).
                user = User(email: email, name: displayName(claims, email: email), passwordHash: "")
                try await user.create(on: tx)
            }
            try await LinkedIdentity(issuer: provider.issuer, subject: subject, userID: try user.requireID())
                .create(on: tx)
            return user
        }
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
