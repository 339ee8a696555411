import Vapor

/// The settings page's section for the company directory (owners): the SCIM base URL, the
/// role new members get, the directory tokens with a revoke button, and making one (shown once).
enum DirectoryTokensPageController {
    struct Section: Encodable {
        struct Row: Encodable {
            let id: UUID
            let createdAt: String
            let createdBy: String
            let lastUsedAt: String?
            let revoked: Bool
        }

        let baseURL: String
        /// Without sign-in through the company's provider, the accounts a directory makes (no
        /// password) cannot sign in: the page says so.
        let accountsCannotSignIn: Bool
        let defaultRole: String
        let roles: [String]
        let tokens: [Row]
        /// The secret of the token just made: on this page only, never again.
        let newToken: String?
    }

    static func section(
        _ req: Request,
        _ admin: Administrator,
        _ organization: Organization,
        new: DirectoryTokenDTO?
    ) async throws -> Section {
        let roles = try await RoleAdministration.roles(of: admin.organizationID, on: req.db)
        return Section(
            baseURL: req.application.publicBaseURL + "/scim/v2",
            accountsCannotSignIn: req.application.oidcProvider == nil,
            defaultRole: organization.scimDefaultRole,
            roles: roles.map(\.name).filter { $0 != BuiltInRole.owner.rawValue },
            tokens: try await DirectoryTokens.list(by: admin, on: req.db).map {
                Section.Row(
                    id: $0.id,
                    createdAt: $0.createdAt ?? "",
                    createdBy: $0.createdBy,
                    lastUsedAt: $0.lastUsedAt,
                    revoked: $0.revokedAt != nil
                )
            },
            newToken: new?.token
        )
    }

    @Sendable static func create(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        let token = try await DirectoryTokens.create(by: admin, on: req.db)
        return try await OrganizationPagesController.renderSettings(req, admin, organization, newDirectoryToken: token)
    }

    @Sendable static func revoke(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("This organization has no directory token with that id.")
        }
        try await DirectoryTokens.revoke(id, by: admin, on: req.db)
        return req.redirect(to: "/orgs/\(req.parameters.get("slug") ?? "")/settings", redirectType: .normal)
    }
}
