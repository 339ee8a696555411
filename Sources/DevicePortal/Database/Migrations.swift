import Fluent

/// Every migration, in the order it runs. Once shipped, a migration is never edited:
/// changes come as new ones at the end.
let portalMigrations: [any Migration] = [
    CreateUsers(),
    CreateOrganizations(),
    CreateRoles(),
    CreateMemberships(),
    CreateClients(),
    CreateDeviceAuthorizations(),
    CreateAPITokens(),
    CreateWebSessions(),
    CreateRateLimitEvents(),
    CreateSigningKeys(),
    CreateAuditEvents(),
    AddDeviceAuthorizationExpiryCounted(),
    CreateOrganizationLogos(),
    CreateLinkedIdentities(),
    AddOrganizationExternalID(),
    CreateOIDCSignInAttempts(),
    CreateInvitations(),
    CreateDirectoryTokens(),
    CreateDirectoryUsers(),
    AddOrganizationSCIMDefaultRole(),
    CreateOutboxMessages(),
    CreateAPITokenLookupFunction(),
]
