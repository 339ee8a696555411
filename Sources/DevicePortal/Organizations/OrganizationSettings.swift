import Fluent
import Vapor

/// An organization's policy, set by its owners: whether devices may sign in to it, and a
/// lifetime for its new tokens shorter than the server's `TOKEN_TTL`.
enum OrganizationSettings {
    struct Settings: Content, StrictJSONBody {
        let deviceSignIn: Bool
        /// Seconds; `nil` means the server's `TOKEN_TTL`.
        let tokenTTL: Int?
        /// The role of members the directory provisions (SCIM); left out of a change, it stays.
        var scimDefaultRole: String? = nil

        enum CodingKeys: String, CodingKey, CaseIterable {
            case deviceSignIn = "device_signin"
            case tokenTTL = "token_ttl"
            case scimDefaultRole = "scim_default_role"
        }
    }

    static func of(_ organization: Organization) -> Settings {
        Settings(
            deviceSignIn: organization.deviceSignIn,
            tokenTTL: organization.tokenTTL,
            scimDefaultRole: organization.scimDefaultRole
        )
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
        if let name = settings.scimDefaultRole {
            guard name != BuiltInRole.owner.rawValue,
                try await Role.find(named: name, in: admin.organizationID, on: db) != nil
            else {
                throw AdminError.invalid(
                    "scim_default_role must be a role of the organization other than owner (admin, member, viewer or a custom role)."
                )
            }
        }
        try await db.transaction { tx in
            organization.deviceSignIn = settings.deviceSignIn
            organization.tokenTTL = settings.tokenTTL
            if let name = settings.scimDefaultRole { organization.scimDefaultRole = name }
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
                    "scim_default_role": organization.scimDefaultRole,
                ],
                on: tx
            )
        }
    }
}
