import Fluent
import Vapor

/// The JSON management API of an organization: `/api/orgs/{slug}/…`. Handlers are thin:
/// the rules live in `MemberAdministration`, `RoleAdministration` and `OrganizationSettings`.
enum OrganizationsAPIController {
    struct Items<Item: Content>: Content {
        let items: [Item]
    }

    struct MemberDTO: Content {
        let user: UserDTO
        let role: String
        let activeTokens: Int

        enum CodingKeys: String, CodingKey {
            case user, role
            case activeTokens = "active_tokens"
        }
    }

    struct RoleDTO: Content {
        let name: String
        let permissions: [String]
        let builtIn: Bool
        let members: Int

        enum CodingKeys: String, CodingKey {
            case name, permissions, members
            case builtIn = "built_in"
        }

        init(_ role: RoleAdministration.Summary) {
            name = role.name
            permissions = role.permissions.map(\.rawValue)
            builtIn = role.builtIn
            members = role.members
        }
    }

    struct RoleChange: StrictJSONBody {
        let role: String
        enum CodingKeys: String, CodingKey, CaseIterable { case role }
    }

    struct NewRole: StrictJSONBody {
        let name: String
        let permissions: [String]
        enum CodingKeys: String, CodingKey, CaseIterable { case name, permissions }
    }

    struct RoleEdit: StrictJSONBody {
        let name: String?
        let permissions: [String]?
        enum CodingKeys: String, CodingKey, CaseIterable { case name, permissions }
    }

    struct RevokedTokens: Content {
        let revokedTokens: Int
        enum CodingKeys: String, CodingKey { case revokedTokens = "revoked_tokens" }
    }

    // MARK: members

    @Sendable static func members(req: Request) async throws -> Items<MemberDTO> {
        let admin = try administrator(req)
        try admin.require(.membersRead)
        let members = try await MemberAdministration.members(of: admin.organizationID, on: req.db)
        return Items(items: members.map { MemberDTO(user: $0.user, role: $0.role, activeTokens: $0.activeTokens) })
    }

    @Sendable static func setRole(req: Request) async throws -> MemberDTO {
        let admin = try administrator(req)
        try admin.require(.membersManage)
        let change = try await req.strictJSON(RoleChange.self)
        guard let role = try await Role.find(named: change.role, in: admin.organizationID, on: req.db) else {
            throw AdminError.invalid("There is no role named \(change.role).")
        }
        let userID = try req.memberID()
        try await MemberAdministration.setRole(of: userID, to: role, by: admin, on: req.db)
        let members = try await MemberAdministration.members(of: admin.organizationID, on: req.db)
        guard let member = members.first(where: { $0.user.id == userID }) else { throw Abort(.notFound) }
        return MemberDTO(user: member.user, role: member.role, activeTokens: member.activeTokens)
    }

    @Sendable static func removeMember(req: Request) async throws -> RevokedTokens {
        let revoked = try await MemberAdministration.remove(try req.memberID(), by: try administrator(req), on: req.db)
        return RevokedTokens(revokedTokens: revoked)
    }

    @Sendable static func revokeMemberTokens(req: Request) async throws -> RevokedTokens {
        let revoked = try await MemberAdministration.revokeTokens(
            of: try req.memberID(),
            by: try administrator(req),
            on: req.db
        )
        return RevokedTokens(revokedTokens: revoked)
    }

    // MARK: roles

    @Sendable static func roles(req: Request) async throws -> Items<RoleDTO> {
        let admin = try administrator(req)
        try admin.require(.rolesManage)
        return Items(items: try await RoleAdministration.roles(of: admin.organizationID, on: req.db).map(RoleDTO.init))
    }

    @Sendable static func createRole(req: Request) async throws -> Response {
        let admin = try administrator(req)
        let body = try await req.strictJSON(NewRole.self)
        let role = try await RoleAdministration.create(
            named: body.name,
            permissions: body.permissions,
            by: admin,
            on: req.db
        )
        return try await summary(of: role.name, admin, req).encodeResponse(status: .created, for: req)
    }

    @Sendable static func updateRole(req: Request) async throws -> RoleDTO {
        let admin = try administrator(req)
        let body = try await req.strictJSON(RoleEdit.self)
        let role = try await RoleAdministration.update(
            named: try roleName(req),
            newName: body.name,
            permissions: body.permissions,
            by: admin,
            on: req.db
        )
        return try await summary(of: role.name, admin, req)
    }

    @Sendable static func deleteRole(req: Request) async throws -> HTTPStatus {
        try await RoleAdministration.delete(named: try roleName(req), by: try administrator(req), on: req.db)
        return .noContent
    }

    // MARK: settings

    @Sendable static func settings(req: Request) async throws -> OrganizationSettings.Settings {
        let admin = try administrator(req)
        try admin.requireOwner("see the organization's policy")
        return OrganizationSettings.of(try await organization(admin, req))
    }

    @Sendable static func updateSettings(req: Request) async throws -> OrganizationSettings.Settings {
        let admin = try administrator(req)
        let settings = try await req.strictJSON(OrganizationSettings.Settings.self)
        let organization = try await organization(admin, req)
        try await OrganizationSettings.update(
            organization,
            to: settings,
            serverTokenTTL: req.application.config.tokenTTL,
            by: admin,
            on: req.db
        )
        return OrganizationSettings.of(organization)
    }

    // MARK: helpers

    static func administrator(_ req: Request) throws -> Administrator {
        try Administrator.api(req, slug: req.parameters.get("slug") ?? "")
    }

    private static func roleName(_ req: Request) throws -> String {
        guard let name = req.parameters.get("name") else { throw AdminError.notFound("There is no such role.") }
        return name
    }

    private static func summary(of name: String, _ admin: Administrator, _ req: Request) async throws -> RoleDTO {
        let roles = try await RoleAdministration.roles(of: admin.organizationID, on: req.db)
        guard let role = roles.first(where: { $0.name == name }) else { throw Abort(.notFound) }
        return RoleDTO(role)
    }

    private static func organization(_ admin: Administrator, _ req: Request) async throws -> Organization {
        guard let organization = try await Organization.find(admin.organizationID, on: req.db) else {
            throw Abort(.notFound)
        }
        return organization
    }
}
