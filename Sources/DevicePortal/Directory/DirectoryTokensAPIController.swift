import Vapor

/// `/api/orgs/{slug}/scim-tokens`: an organization's directory tokens, for its owners.
enum DirectoryTokensAPIController {
    @Sendable static func list(req: Request) async throws -> OrganizationsAPIController.Items<DirectoryTokenDTO> {
        let admin = try OrganizationsAPIController.administrator(req)
        return .init(items: try await DirectoryTokens.list(by: admin, on: req.db))
    }

    /// 201 with the secret, which is never shown again.
    @Sendable static func create(req: Request) async throws -> Response {
        let admin = try OrganizationsAPIController.administrator(req)
        return try await DirectoryTokens.create(by: admin, on: req.db).encodeResponse(status: .created, for: req)
    }

    @Sendable static func revoke(req: Request) async throws -> HTTPStatus {
        let admin = try OrganizationsAPIController.administrator(req)
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("This organization has no directory token with that id.")
        }
        try await DirectoryTokens.revoke(id, by: admin, on: req.db)
        return .noContent
    }
}
