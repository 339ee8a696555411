import Vapor

/// Every state-changing web request must carry the CSRF token of its session (a hidden
/// `csrf_token` field, or `X-CSRF-Token` for JSON). Before sign-in, the sign-in form's
/// token is checked against a cookie of its own (double submit).
struct CSRFMiddleware: AsyncMiddleware {
    static let cookieName = "portal_csrf"

    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.method != .GET, request.method != .HEAD, !(try await Self.isValid(request)) {
            throw PageError.forbidden(
                "This form has expired or did not come from this portal. Go back, reload the page and try again.")
        }
        return try await next.respond(to: request)
    }

    private static func isValid(_ request: Request) async throws -> Bool {
        // Without a token to compare with, nothing is read: no body is buffered for nobody.
        guard let expected = request.signedIn?.csrfToken ?? request.cookies[cookieName]?.string, !expected.isEmpty
        else { return false }
        var provided = request.headers.first(name: "X-CSRF-Token")
        if provided == nil {
            try await collectBody(request)
            provided = try? request.content.get(String.self, at: "csrf_token")
        }
        guard let provided else { return false }
        return OpaqueSecret.constantTimeEquals(expected, provided)
    }

    /// A body larger than one network read arrives as a stream, which `content` cannot read
    /// (an upload always does). This runs before the route collects the body, so it collects
    /// it here, to the same limit the route would: its `maxBody` for a signed-in person (the
    /// only one who can use it), else the default.
    private static func collectBody(_ request: Request) async throws {
        guard request.body.data == nil else { return }
        let routeLimit = request.signedIn == nil ? nil : request.route?.userInfo[bodyLimitKey] as? Int
        let limit = routeLimit ?? request.application.routes.defaultMaxBodySize.value
        _ = try await request.eventLoop.flatSubmit { request.body.collect(max: limit) }.get()
    }

    static let bodyLimitKey: AnySendableHashable = "csrf.bodyLimit"

    /// The token for a form shown to someone not signed in, and the cookie that must match it.
    static func anonymousToken(for request: Request) -> (token: String, cookie: HTTPCookies.Value) {
        let token =
            request.cookies[cookieName]?.string.filter(\.isHexDigit).count == 64
            ? request.cookies[cookieName]!.string : OpaqueSecret.hex()
        let cookie = HTTPCookies.Value(
            string: token, maxAge: 3600, path: "/", isSecure: request.application.servesHTTPS, isHTTPOnly: true,
            sameSite: .strict)
        return (token, cookie)
    }
}

extension RoutesBuilder {
    /// A form POST whose body may exceed the default limit (an upload): the route collects up
    /// to `maxBody`, and so does `CSRFMiddleware`, which reads the form before the route does.
    @discardableResult
    func post(
        _ path: PathComponent..., maxBody: ByteCount,
        use closure: @escaping @Sendable (Request) async throws -> Response
    ) -> Route {
        let route = on(.POST, path, body: .collect(maxSize: maxBody), use: closure)
        route.userInfo[CSRFMiddleware.bodyLimitKey] = maxBody.value
        return route
    }
}

/// Where `next` may send someone after sign-in: a path on this portal, nothing else.
enum SafeRedirect {
    static let fallback = "/auth/device"

    static func target(_ next: String?) -> String {
        guard let next, next.count <= 2_000, next.hasPrefix("/"), !next.hasPrefix("//"),
            !next.contains("\\"), !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }),
            let url = URLComponents(string: next), url.scheme == nil, url.host == nil
        else { return fallback }
        return next
    }
}
