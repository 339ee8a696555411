import Vapor

/// Every route the portal answers, by feature.
func routes(_ app: Application) throws {
    // JSON: operations, OAuth and the guarded API; every answer, errors included, is JSON.
    let json = app.answering(.json)

    // Operations
    json.get("healthz", use: HealthController.live)
    json.get("readyz", use: HealthController.ready)
    json.get("metrics", use: MetricsController.scrape)

    // OAuth: device authorization grant (RFC 8628), revocation (RFC 7009), metadata (RFC 8414)
    json.post("auth", "device", "code", use: DeviceCodeController.issue)
    json.post("auth", "device", "token", use: DeviceTokenController.exchange)
    json.post("auth", "token", "revoke", use: RevocationController.revoke)
    json.get(".well-known", "oauth-authorization-server", use: MetadataController.show)
    json.post("auth", "introspect", use: IntrospectionController.introspect)

    // Session JWTs: minted for a signed-in browser, verified by anyone with the JWKS
    json.get(".well-known", "jwks.json", use: SessionTokenController.jwks)

    // Guarded API: an API token or a session JWT
    let guarded = json.grouped(BearerGuard())
    guarded.get("me", use: MeController.show)
    // Forward auth: the same decision for a reverse proxy in front of other services
    for method in ForwardAuthController.methods {
        guarded.on(method, "auth", "verify", use: ForwardAuthController.verify)
    }
    let api = guarded.grouped("api")
    api.get("me", "tokens", use: MyTokensController.list)
    api.delete("me", "tokens", ":id", use: MyTokensController.delete)
    let organizationAPI = api.grouped("orgs", ":slug")
    organizationAPI.get("settings", use: OrganizationsAPIController.settings)
    organizationAPI.put("settings", use: OrganizationsAPIController.updateSettings)
    organizationAPI.get("members", use: OrganizationsAPIController.members)
    organizationAPI.post("members", use: InvitationsAPIController.addMember)
    organizationAPI.put("members", ":userID", use: OrganizationsAPIController.setRole)
    organizationAPI.delete("members", ":userID", use: OrganizationsAPIController.removeMember)
    organizationAPI.delete("members", ":userID", "tokens", use: OrganizationsAPIController.revokeMemberTokens)
    organizationAPI.get("roles", use: OrganizationsAPIController.roles)
    organizationAPI.post("roles", use: OrganizationsAPIController.createRole)
    organizationAPI.put("roles", ":name", use: OrganizationsAPIController.updateRole)
    organizationAPI.delete("roles", ":name", use: OrganizationsAPIController.deleteRole)
    organizationAPI.get("audit", use: AuditAPIController.list)
    organizationAPI.get("invitations", use: InvitationsAPIController.list)
    organizationAPI.post("invitations", use: InvitationsAPIController.invite)
    organizationAPI.delete("invitations", ":id", use: InvitationsAPIController.withdraw)
    organizationAPI.get("scim-tokens", use: DirectoryTokensAPIController.list)
    organizationAPI.post("scim-tokens", use: DirectoryTokensAPIController.create)
    organizationAPI.delete("scim-tokens", ":id", use: DirectoryTokensAPIController.revoke)

    // SCIM 2.0 (RFC 7643, RFC 7644) for the organization's directory: a directory token, not the API's guard
    let scim = app.answering(.scim).grouped("scim", "v2").grouped(SCIMGuard())
    scim.get("ServiceProviderConfig", use: SCIMDiscoveryController.serviceProviderConfig)
    scim.get("ResourceTypes", use: SCIMDiscoveryController.resourceTypes)
    scim.get("ResourceTypes", ":id", use: SCIMDiscoveryController.resourceType)
    scim.get("Schemas", use: SCIMDiscoveryController.schemas)
    scim.get("Schemas", ":id", use: SCIMDiscoveryController.schema)
    scim.get("Users", use: SCIMUsersController.list)
    scim.post("Users", use: SCIMUsersController.create)
    scim.get("Users", ":id", use: SCIMUsersController.show)
    scim.put("Users", ":id", use: SCIMUsersController.replace)
    scim.patch("Users", ":id", use: SCIMUsersController.patch)
    scim.delete("Users", ":id", use: SCIMUsersController.delete)
    scim.post(".search", use: SCIMDiscoveryController.searchEverything)

    // Web pages: a browser session, CSRF on every POST
    let web = app.answering(.page).grouped(WebSessionMiddleware(), WebFormMiddleware(), CSRFMiddleware())
    web.get { req in req.redirect(to: "/auth/device") }
    web.get("login", use: LoginController.show)
    web.post("login", use: LoginController.signIn)
    // Sign-in with the company's OpenID Connect provider (404 when none is configured)
    web.get("login", "oidc", use: OIDCSignInController.start)
    web.get("login", "oidc", "callback", use: OIDCSignInController.callback)
    web.answering(.json).post("auth", "session", "token", use: SessionTokenController.mint)
    // Invitations: the link's page; accepting it signed in, or creating the invited account
    web.get("invitations", ":secret", use: InvitationPagesController.show)
    web.post("invitations", ":secret", use: InvitationPagesController.createAccount)
    web.post("invitations", ":secret", "accept", use: InvitationPagesController.accept)

    let signedIn = web.grouped(RequireSignInMiddleware())
    signedIn.post("logout", use: LoginController.signOut)
    signedIn.get("auth", "device", use: DeviceApprovalController.enter)
    signedIn.post("auth", "device", use: DeviceApprovalController.confirm)
    signedIn.post("auth", "device", "confirm", use: DeviceApprovalController.decide)
    signedIn.post("session", "organization", use: ActiveOrganizationController.choose)
    signedIn.get("settings", "devices", use: DevicesPageController.show)
    signedIn.post("settings", "devices", ":id", "revoke", use: DevicesPageController.revoke)
    signedIn.post("settings", "devices", "revoke-all", use: DevicesPageController.revokeAll)

    // Organization pages: the same rules as the API, for people
    let organizationPages = signedIn.grouped("orgs", ":slug")
    organizationPages.get("members", use: OrganizationPagesController.members)
    organizationPages.post("members", use: OrganizationPagesController.addMember)
    organizationPages.post("invitations", ":id", "withdraw", use: OrganizationPagesController.withdrawInvitation)
    organizationPages.post("members", ":userID", "role", use: OrganizationPagesController.setRole)
    organizationPages.post("members", ":userID", "remove", use: OrganizationPagesController.removeMember)
    organizationPages.post("members", ":userID", "revoke-tokens", use: OrganizationPagesController.revokeMemberTokens)
    organizationPages.get("roles", use: OrganizationPagesController.roles)
    organizationPages.post("roles", use: OrganizationPagesController.createRole)
    organizationPages.post("roles", ":name", use: OrganizationPagesController.updateRole)
    organizationPages.post("roles", ":name", "delete", use: OrganizationPagesController.deleteRole)
    organizationPages.get("settings", use: OrganizationPagesController.settings)
    organizationPages.post("settings", use: OrganizationPagesController.updateSettings)
    organizationPages.post("settings", "scim-tokens", use: DirectoryTokensPageController.create)
    organizationPages.post("settings", "scim-tokens", ":id", "revoke", use: DirectoryTokensPageController.revoke)
    organizationPages.get("audit", use: AuditPageController.show)
    organizationPages.get("logo", use: LogoController.show)
    organizationPages.post("logo", maxBody: LogoRules.bodyLimit, use: LogoController.upload)
}
