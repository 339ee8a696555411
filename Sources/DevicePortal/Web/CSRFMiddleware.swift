import Vapor

/// Every state-changing web request must carry the CSRF token of its session (a hidden
/// `csrf_token` field, or `X-CSRF-Token` for JSON). Before sign-in, the sign-in form's
/// token is checked against a cookie of its own (double submit).
struct CSRFMiddleware: AsyncMiddleware {
    /// Over https the pre-sign-in cookie is a `__Host-` cookie: the browser then refuses one set
    /// by a sibling subdomain or over plain http, which could otherwise plant a known token.
    static func cookieName(https: Bool) -> String { https ? "__Host-portal_csrf" : "portal_csrf" }

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.method != .GET, request.method != .HEAD, !Self.isValid(request) {
            throw PageError.forbidden(
                "This form has expired or did not come from this portal. Go back, reload the page and try again."
            )
        }
        return try await next.respond(to: request)
    }

    private static func isValid(_ request: Request) -> Bool {
        let cookieName = cookieName(https: request.application.servesHTTPS)
        guard let expected = request.signedIn?.csrfToken ?? request.cookies[cookieName]?.string, !expected.isEmpty
        else { return false }
        // `WebFormMiddleware` has collected and checked the body.
        guard
            let provided = request.headers.first(name: "X-CSRF-Token")
                ?? (try? request.content.get(String.self, at: "csrf_token"))
        else { return false }
        return OpaqueSecret.constantTimeEquals(expected, provided)
    }

    /// The token for a form shown to someone not signed in, and the cookie that must match it.
    static func anonymousToken(for request: Request) -> (token: String, cookie: HTTPCookies.Value) {
        let existing = request.cookies[cookieName(https: request.application.servesHTTPS)]?.string
        let token =
            existing.flatMap { $0.utf8.count == 64 && $0.allSatisfy(\.isHexDigit) ? $0 : nil } ?? OpaqueSecret.hex()
        let cookie = HTTPCookies.Value(
            string: token,
            maxAge: 3600,
            path: "/",
            isSecure: request.application.servesHTTPS,
            isHTTPOnly: true,
            sameSite: .strict
        )
        return (token, cookie)
    }
}
