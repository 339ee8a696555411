import Fluent
import Vapor

/// An organization's policy, set by its owners: whether devices may sign in to it, and a
/// lifetime for its new tokens shorter than the server's `TOKEN_TTL`.
enum OrganizationSettings {
    struct Settings: Content, StrictJSONBody {
        let deviceSignIn: Bool
        /// Seconds; `nil` means the server's `TOKEN_TTL`.
        let tokenTTL: Int?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case deviceSignIn = "device_signin"
            case tokenTTL = "token_ttl"
        }
    }

    static func of(_ organization: Organization) -> Settings {
        Settings(deviceSignIn: organization.deviceSignIn, tokenTTL: organization.tokenTTL)
    }

    static func update(
        _ organization: Organization,
        to settings: Settings,
        serverTokenTTL: Int,
        by admin: Administrator,
        on db: any Database
    ) async throws {
        try admin.requireOwner("change the organization's policy")
        if let ttl = settings.tokenTTL, !(60...serverTokenTTL).contains(ttl) {
            throw AdminError.invalid("token_ttl must be from 60 to \(serverTokenTTL) seconds (the server's TOKEN_TTL).")
        }
        try await db.transaction { tx in
            organization.deviceSignIn = settings.deviceSignIn
            organization.tokenTTL = settings.tokenTTL
            try await organization.update(on: tx)
            // Turned off: codes approved for it and not yet exchanged never become tokens.
            if !settings.deviceSignIn {
                try await TokenRevocation.endApprovals(userID: nil, organizationID: admin.organizationID, on: tx)
            }
            try await AuditEvent.record(
                .settingsChanged,
                by: admin.audit,
                in: admin.organizationID,
                details: [
                    "device_signin": String(settings.deviceSignIn),
                    "token_ttl": settings.tokenTTL.map(String.init) ?? "server default",
                ],
                on: tx
            )
        }
    }
}
