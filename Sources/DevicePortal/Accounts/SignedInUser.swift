import Fluent
import Vapor

/// The person behind a browser's web session, loaded once per web request.
struct SignedInUser: Sendable {
    let sessionID: UUID
    let userID: UUID
    let email: String
    let name: String
    let csrfToken: String
    let activeOrganizationID: UUID?
}

extension Request {
    private struct SignedInKey: StorageKey {
        typealias Value = SignedInUser
    }

    var signedIn: SignedInUser? {
        get { storage[SignedInKey.self] }
        set { storage[SignedInKey.self] = newValue }
    }

    func requireSignedIn() throws -> SignedInUser {
        guard let signedIn else { throw Abort(.unauthorized) }
        return signedIn
    }
}

/// The session cookie: a random secret the database knows only by its SHA-256.
enum SessionCookie {
    static let name = "portal_session"
    static let lifetime: TimeInterval = 12 * 3600

    static func value(_ secret: String, secure: Bool) -> HTTPCookies.Value {
        HTTPCookies.Value(
            string: secret, maxAge: Int(lifetime), path: "/", isSecure: secure, isHTTPOnly: true, sameSite: .lax)
    }

    static func expired(secure: Bool) -> HTTPCookies.Value {
        HTTPCookies.Value(string: "", maxAge: 0, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: .lax)
    }
}

/// Finds the web session named by the cookie, if it is live, in one query.
struct WebSessionMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if let secret = request.cookies[SessionCookie.name]?.string, !secret.isEmpty, secret.count <= 128 {
            let session = try await WebSession.query(on: request.db)
                .join(User.self, on: \WebSession.$user.$id == \User.$id)
                .filter(\.$tokenHash == OpaqueSecret.hash(secret))
                .filter(\.$expiresAt > Date())
                .first()
            if let session, let user = try? session.joined(User.self) {
                request.signedIn = SignedInUser(
                    sessionID: try session.requireID(), userID: try user.requireID(), email: user.email,
                    name: user.name, csrfToken: session.csrfToken,
                    activeOrganizationID: session.$activeOrganization.id)
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
