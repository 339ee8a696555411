import Fluent
import Vapor

/// `POST /api/orgs/{slug}/members` (add or invite) and `/api/orgs/{slug}/invitations`.
enum InvitationsAPIController {
    struct NewMember: StrictJSONBody {
        let email: String
        let role: String
        enum CodingKeys: String, CodingKey, CaseIterable { case email, role }
    }

    struct InvitationAnswer: Content {
        let invitation: InvitationDTO
    }

    /// An existing account: 201 with the member as `GET …/members` shows them; else 201 with the invitation.
    @Sendable static func addMember(req: Request) async throws -> Response {
        let admin = try OrganizationsAPIController.administrator(req)
        try admin.require(.membersManage)
        let body = try await req.strictJSON(NewMember.self)
        switch try await Invitations.addOrInvite(terms(body, req), by: admin, on: req.db) {
        case .added(let userID):
            let added = try await MemberAdministration.members(of: admin.organizationID, only: userID, on: req.db)
            guard let member = added.first else { throw Abort(.notFound) }
            return try await OrganizationsAPIController.MemberDTO(
                user: member.user,
                role: member.role,
                activeTokens: member.activeTokens
            ).encodeResponse(status: .created, for: req)
        case .invited(let created):
            return try await answer(created, req)
        }
    }

    @Sendable static func invite(req: Request) async throws -> Response {
        let admin = try OrganizationsAPIController.administrator(req)
        try admin.require(.membersManage)
        let body = try await req.strictJSON(NewMember.self)
        return try await answer(try await Invitations.invite(terms(body, req), by: admin, on: req.db), req)
    }

    @Sendable static func list(req: Request) async throws -> OrganizationsAPIController.Items<InvitationDTO> {
        let admin = try OrganizationsAPIController.administrator(req)
        try admin.require(.membersRead)
        let pending = try await Invitations.pending(in: admin.organizationID, at: req.now, on: req.db)
        return .init(items: try pending.map { try InvitationDTO($0) })
    }

    @Sendable static func withdraw(req: Request) async throws -> HTTPStatus {
        let admin = try OrganizationsAPIController.administrator(req)
        try await Invitations.withdraw(try req.invitationID(), by: admin, at: req.now, on: req.db)
        return .noContent
    }

    private static func terms(_ body: NewMember, _ req: Request) -> Invitations.Terms {
        Invitations.Terms(email: body.email, roleName: body.role, now: req.now, app: req.application)
    }

    private static func answer(_ created: Invitations.Created, _ req: Request) async throws -> Response {
        try await InvitationAnswer(invitation: InvitationDTO(created.invitation, url: created.url))
            .encodeResponse(status: .created, for: req)
    }
}

extension Request {
    /// The `{id}` of an invitation route; a malformed id is as unknown as a made-up one.
    func invitationID() throws -> UUID {
        guard let id = parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("There is no pending invitation with that id.")
        }
        return id
    }
}
