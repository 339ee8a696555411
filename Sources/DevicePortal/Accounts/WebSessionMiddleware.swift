import Fluent
import Vapor

/// Finds the web session named by the cookie, if it is live, in one query.
struct WebSessionMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if let secret = request.cookies[SessionCookie.name]?.string, !secret.isEmpty, secret.count <= 128 {
            let session = try await WebSession.query(on: request.db)
                .join(User.self, on: \WebSession.$user.$id == \User.$id)
                .filter(\.$tokenHash == OpaqueSecret.hash(secret))
                .filter(\.$expiresAt > request.now)
                .first()
            if let session, let user = try? session.joined(User.self) {
                request.signedIn = SignedInUser(
                    sessionID: try session.requireID(),
                    userID: try user.requireID(),
                    email: user.email,
                    name: user.name,
                    csrfToken: session.csrfToken,
                    activeOrganizationID: session.$activeOrganization.id
                )
            }
        }
        return try await next.respond(to: request)
    }
}

/// Sends anyone not signed in to the sign-in page, coming back here afterwards.
struct RequireSignInMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        guard request.signedIn != nil else {
            let back = request.method == .GET ? request.url.string : request.url.path
            var query = URLComponents()
            query.queryItems = [URLQueryItem(name: "next", value: back)]
            return request.redirect(to: "/login?" + (query.percentEncodedQuery ?? ""), redirectType: .normal)
        }
        return try await next.respond(to: request)
    }
}
