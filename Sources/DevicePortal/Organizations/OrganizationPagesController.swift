import Fluent
import Vapor

/// The organization's pages for people: members, roles and policy. Every change is a form
/// post that goes through the same rules as the API, then back to the page.
enum OrganizationPagesController {
    struct MembersPage: Encodable {
        struct Row: Encodable {
            let id: UUID
            let email: String
            let name: String
            let role: String
            let activeTokens: Int
            /// "1 token", "2 tokens".
            let tokens: String
            /// The role form's choices: the member's role and those this person may hand out;
            /// empty when they may not change it (their own, or an owner's unless they are one).
            let roleChoices: [String]
            let canChangeRole: Bool
            let isSelf: Bool
        }

        struct InvitationRow: Encodable {
            let id: UUID
            let email: String
            let role: String
            let invitedBy: String
            let created: ShownDate
            let expires: ShownDate
            /// Taking an owner's invitation back takes an owner, as making it did.
            let canWithdraw: Bool
        }

        /// The invitation just made, shown with its link this once.
        struct NewInvitation: Encodable {
            let email: String
            let role: String
            let url: String
            let expires: ShownDate
            /// Whether the portal mails it too (`SMTP_URL`).
            let mailed: Bool
        }

        let slug: String
        let name: String
        let members: [Row]
        let memberCount: String
        /// The roles this person may hand out: the add-or-invite form's choices.
        let grantableRoles: [String]
        let invitations: [InvitationRow]
        let hasInvitations: Bool
        let created: NewInvitation?
        let canManage: Bool
        let canRevokeTokens: Bool
        let csrfToken: String
    }

    struct RolesPage: Encodable {
        struct Row: Encodable {
            let name: String
            let builtIn: Bool
            /// "1 member", "2 members".
            let members: String
            let permissions: [Box]
        }

        struct Box: Encodable {
            let name: String
            let checked: Bool
        }

        let slug: String
        let name: String
        let roles: [Row]
        let allPermissions: [String]
        let csrfToken: String
    }

    struct SettingsPage: Encodable {
        let slug: String
        let name: String
        /// The policy is the owners'; admins see only the logo.
        let isOwner: Bool
        let deviceSignIn: Bool
        let tokenTTL: String
        let serverTokenTTL: Int
        /// "2592000 seconds" (never "1 seconds").
        let serverTokenTTLText: String
        /// The current logo's SHA-256, if there is one (it versions the image's URL).
        let logo: String?
        let csrfToken: String
        /// The owners' part for the company directory (SCIM); `nil` for admins.
        var directory: DirectoryTokensPageController.Section? = nil
    }

    struct RoleForm: Content {
        let role: String?
    }

    struct NewMemberForm: Content {
        let email: String?
        let role: String?
    }

    struct RoleEditForm: Content {
        let name: String?
        let permissions: [String]?
    }

    struct SettingsForm: Content {
        let deviceSignIn: String?
        let tokenTTL: String?
        let scimDefaultRole: String?

        enum CodingKeys: String, CodingKey {
            case deviceSignIn = "device_signin"
            case tokenTTL = "token_ttl"
            case scimDefaultRole = "scim_default_role"
        }
    }

    // MARK: members

    @Sendable static func members(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        try admin.require(.membersRead)
        return try await membersPage(req, admin, organization, created: nil)
    }

    /// The add-or-invite form: an existing account is added (back to the page); anyone else is
    /// invited, and the page shows the link this once, since only its hash is kept.
    @Sendable static func addMember(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        try admin.require(.membersManage)
        let form = try req.content.decode(NewMemberForm.self)
        let terms = Invitations.Terms(
            email: form.email ?? "",
            roleName: form.role ?? "",
            now: req.now,
            app: req.application
        )
        switch try await Invitations.addOrInvite(terms, by: admin, on: req.db) {
        case .added: return backTo("members", req)
        case .invited(let created): return try await membersPage(req, admin, organization, created: created)
        }
    }

    @Sendable static func withdrawInvitation(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        try await Invitations.withdraw(try req.invitationID(), by: admin, at: req.now, on: req.db)
        return backTo("members", req)
    }

    private static func membersPage(
        _ req: Request,
        _ admin: Administrator,
        _ organization: Organization,
        created: Invitations.Created?
    ) async throws -> Response {
        let members = try await MemberAdministration.members(of: admin.organizationID, on: req.db)
        let roles = try await RoleAdministration.roles(of: admin.organizationID, on: req.db)
        let canManage = admin.permissions.contains(.membersManage)
        let grantable = canManage ? roles.filter { mayGrant($0, admin) }.map(\.name) : []
        let invitations = try await Invitations.pending(in: admin.organizationID, at: req.now, on: req.db)
        return try await req.renderPage(
            "organizations/members",
            title: "Members of \(organization.name)",
            MembersPage(
                slug: organization.slug,
                name: organization.name,
                members: members.map {
                    let choices = roleChoices(for: $0.user.id, holding: $0.role, admin, roles, grantable)
                    return .init(
                        id: $0.user.id,
                        email: $0.user.email,
                        name: $0.user.name,
                        role: $0.role,
                        activeTokens: $0.activeTokens,
                        tokens: Wording.count($0.activeTokens, "token"),
                        roleChoices: choices,
                        canChangeRole: !choices.isEmpty,
                        isSelf: $0.user.id == admin.userID
                    )
                },
                memberCount: Wording.count(members.count, "member"),
                grantableRoles: grantable,
                invitations: try invitations.map { invitation in
                    .init(
                        id: try invitation.requireID(),
                        email: invitation.email,
                        role: invitation.role.name,
                        invitedBy: invitation.invitedBy,
                        created: ShownDate(invitation.createdAt, now: req.now),
                        expires: ShownDate(invitation.expiresAt, now: req.now),
                        canWithdraw: canManage && mayGrant(invitation.role, admin)
                    )
                },
                hasInvitations: !invitations.isEmpty,
                created: created.map {
                    .init(
                        email: $0.invitation.email,
                        role: $0.invitation.role.name,
                        url: $0.url,
                        expires: ShownDate($0.invitation.expiresAt, now: req.now),
                        mailed: req.application.config.mail != nil
                    )
                },
                canManage: canManage,
                canRevokeTokens: admin.permissions.contains(.tokensManage),
                csrfToken: try req.requireSignedIn().csrfToken
            )
        )
    }

    private static func mayGrant(_ role: RoleAdministration.Summary, _ admin: Administrator) -> Bool {
        (try? MemberAdministration.requireMayGrant(named: role.name, permissions: Set(role.permissions), admin)) != nil
    }

    private static func mayGrant(_ role: Role, _ admin: Administrator) -> Bool {
        (try? MemberAdministration.requireMayGrant(role, admin)) != nil
    }

    /// What the member's role form offers, in the roles' order: nothing for oneself or, unless one
    /// is an owner, for an owner (the server refuses both); else their role and the grantable ones.
    private static func roleChoices(
        for userID: UUID,
        holding current: String,
        _ admin: Administrator,
        _ roles: [RoleAdministration.Summary],
        _ grantable: [String]
    ) -> [String] {
        guard !grantable.isEmpty, userID != admin.userID,
            current != BuiltInRole.owner.rawValue || admin.isOwner
        else { return [] }
        return roles.map(\.name).filter { $0 == current || grantable.contains($0) }
    }

    @Sendable static func setRole(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        try admin.require(.membersManage)
        let name = try req.content.decode(RoleForm.self).role ?? ""
        guard let role = try await Role.find(named: name, in: admin.organizationID, on: req.db) else {
            throw AdminError.invalid("There is no role named \(name).")
        }
        try await MemberAdministration.setRole(of: try req.memberID(), to: role, by: admin, on: req.db)
        return backTo("members", req)
    }

    @Sendable static func removeMember(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        _ = try await MemberAdministration.remove(try req.memberID(), by: admin, on: req.db)
        return backTo("members", req)
    }

    @Sendable static func revokeMemberTokens(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        _ = try await MemberAdministration.revokeTokens(of: try req.memberID(), by: admin, on: req.db)
        return backTo("members", req)
    }

    // MARK: roles

    @Sendable static func roles(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        try admin.require(.rolesManage)
        let roles = try await RoleAdministration.roles(of: admin.organizationID, on: req.db)
        return try await req.renderPage(
            "organizations/roles",
            title: "Roles in \(organization.name)",
            RolesPage(
                slug: organization.slug,
                name: organization.name,
                roles: roles.map { role in
                    .init(
                        name: role.name,
                        builtIn: role.builtIn,
                        members: Wording.count(role.members, "member"),
                        permissions: Permission.allCases.map {
                            .init(name: $0.rawValue, checked: role.permissions.contains($0))
                        }
                    )
                },
                allPermissions: Permission.allCases.map(\.rawValue),
                csrfToken: try req.requireSignedIn().csrfToken
            )
        )
    }

    @Sendable static func createRole(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        let form = try req.content.decode(RoleEditForm.self)
        _ = try await RoleAdministration.create(
            named: form.name ?? "",
            permissions: form.permissions ?? [],
            by: admin,
            on: req.db
        )
        return backTo("roles", req)
    }

    @Sendable static func updateRole(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        let form = try req.content.decode(RoleEditForm.self)
        _ = try await RoleAdministration.update(
            named: req.parameters.get("name") ?? "",
            newName: form.name,
            permissions: form.permissions ?? [],
            by: admin,
            on: req.db
        )
        return backTo("roles", req)
    }

    @Sendable static func deleteRole(req: Request) async throws -> Response {
        let (admin, _) = try await Administrator.web(req)
        try await RoleAdministration.delete(named: req.parameters.get("name") ?? "", by: admin, on: req.db)
        return backTo("roles", req)
    }

    // MARK: settings

    /// The logo (admins) and the policy (owners only).
    @Sendable static func settings(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        return try await renderSettings(req, admin, organization)
    }

    /// The settings page; `newDirectoryToken` is shown once, on the page that made it.
    static func renderSettings(
        _ req: Request,
        _ admin: Administrator,
        _ organization: Organization,
        newDirectoryToken: DirectoryTokenDTO? = nil
    ) async throws -> Response {
        try admin.requireAdmin("see the organization's settings")
        return try await req.renderPage(
            "organizations/settings",
            title: "Settings of \(organization.name)",
            SettingsPage(
                slug: organization.slug,
                name: organization.name,
                isOwner: admin.isOwner,
                deviceSignIn: admin.isOwner && organization.deviceSignIn,
                tokenTTL: admin.isOwner ? organization.tokenTTL.map(String.init) ?? "" : "",
                serverTokenTTL: req.application.config.tokenTTL,
                serverTokenTTLText: Wording.count(req.application.config.tokenTTL, "second"),
                logo: try await OrganizationLogo.storedSHA256(of: admin.organizationID, on: req.db),
                csrfToken: try req.requireSignedIn().csrfToken,
                directory: admin.isOwner
                    ? try await DirectoryTokensPageController.section(req, admin, organization, new: newDirectoryToken)
                    : nil
            )
        )
    }

    @Sendable static func updateSettings(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        let form = try req.content.decode(SettingsForm.self)
        let ttlText = form.tokenTTL?.trimmingCharacters(in: .whitespaces) ?? ""
        guard ttlText.isEmpty || Int(ttlText) != nil else {
            throw AdminError.invalid("The token lifetime must be a whole number of seconds, or empty.")
        }
        let settings = OrganizationSettings.Settings(
            deviceSignIn: form.deviceSignIn != nil,
            tokenTTL: Int(ttlText),
            scimDefaultRole: form.scimDefaultRole.flatMap { $0.isEmpty ? nil : $0 }
        )
        try await OrganizationSettings.update(
            organization,
            to: settings,
            serverTokenTTL: req.application.config.tokenTTL,
            by: admin,
            on: req.db
        )
        return backTo("settings", req)
    }

    // MARK: helpers

    private static func backTo(_ page: String, _ req: Request) -> Response {
        req.redirect(to: "/orgs/\(req.parameters.get("slug") ?? "")/\(page)", redirectType: .normal)
    }
}
