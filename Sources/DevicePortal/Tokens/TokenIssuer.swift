import Fluent
import Foundation

/// Mints API tokens: the token goes to the caller once, its hash to the database.
enum TokenIssuer {
    struct Issued {
        let token: String
        let record: APIToken
        /// Seconds the token is valid.
        let lifetime: Int
    }

    /// The server's `TOKEN_TTL`, or the organization's shorter lifetime for new tokens.
    static func lifetime(for organization: Organization, serverTokenTTL: Int) -> Int {
        min(serverTokenTTL, organization.tokenTTL ?? serverTokenTTL)
    }

    static func issue(
        user: User,
        organization: Organization,
        clientID: UUID,
        deviceAuthorizationID: UUID?,
        deviceName: String?,
        serverTokenTTL: Int,
        at now: Date,
        on db: any Database
    ) async throws -> Issued {
        let token = OpaqueSecret.hex()
        let lifetime = lifetime(for: organization, serverTokenTTL: serverTokenTTL)
        let record = APIToken(
            tokenHash: OpaqueSecret.hash(token),
            userID: try user.requireID(),
            organizationID: try organization.requireID(),
            clientID: clientID,
            deviceAuthorizationID: deviceAuthorizationID,
            deviceName: deviceName,
            expiresAt: now.addingTimeInterval(TimeInterval(lifetime))
        )
        try await record.create(on: db)
        return Issued(token: token, record: record, lifetime: lifetime)
    }
}
