import Fluent
import Vapor

/// `POST /session/organization`: the header's organization picker sets the web session's
/// active organization (the one its session JWTs act in).
enum ActiveOrganizationController {
    struct Form: Content {
        let org: String?
        let next: String?
    }

    @Sendable static func choose(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        let form = try req.content.decode(Form.self)
        let choices = try await OrganizationChoice.all(of: signedIn.userID, on: req.db)
        guard let choice = choices.first(where: { $0.slug == form.org }) else {
            throw AdminError.notFound("You are not a member of that organization.")
        }
        try await WebSession.query(on: req.db)
            .filter(\.$id == signedIn.sessionID)
            .set(\.$activeOrganization.$id, to: choice.id)
            .update()
        return req.redirect(to: SafeRedirect.target(form.next), redirectType: .normal)
    }
}
