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
            string: secret,
            maxAge: Int(lifetime),
            path: "/",
            isSecure: secure,
            isHTTPOnly: true,
            sameSite: .lax
        )
    }

    static func expired(secure: Bool) -> HTTPCookies.Value {
        HTTPCookies.Value(string: "", maxAge: 0, path: "/", isSecure: secure, isHTTPOnly: true, sameSite: .lax)
    }
}
