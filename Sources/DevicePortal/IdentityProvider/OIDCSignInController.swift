import Crypto
import Fluent
import Vapor

/// Sign-in with the company's OpenID Connect provider: the authorization code flow with PKCE
/// `S256`, a single-use `state` bound to the browser, and a `nonce` (OpenID Connect Core §3.1).
/// Every failure is a page saying what went wrong, audited, and signs nobody in.
enum OIDCSignInController {
    static func startURL(next: String) -> String {
        next == SafeRedirect.fallback ? "/login/oidc" : "/login/oidc?next=" + FormEncoding.escape(next)
    }

    static func callbackURL(_ app: Application) -> String { app.publicBaseURL + "/login/oidc/callback" }

    static func cookieName(https: Bool) -> String { https ? "__Host-portal_oidc" : "portal_oidc" }

    /// `GET /login/oidc?next=…`: off to the provider.
    @Sendable static func start(req: Request) async throws -> Response {
        let provider = try Self.provider(req)
        let next = SafeRedirect.target(req.query[String.self, at: "next"])
        let limit = try await RateLimiter(db: req.db).reserve(
            at: req.now,
            [.init(bucket: "oidc:ip:\(req.rateLimitIP)", rules: RateLimiter.signInPerIPRules)]
        )
        if let retryAfter = limit.retryAfter {
            req.metrics.rateLimitRefusal(.signIn)
            throw PageError(
                status: .tooManyRequests,
                title: "Too many attempts",
                message: "Too many sign-ins from this network. Try again in \(PageError.wait(seconds: retryAfter)).",
                headers: ["Retry-After": String(retryAfter)]
            )
        }
        // Fetched afresh: a person is sent to the provider only while it answers.
        let discovery: DiscoveryDocument
        do { discovery = try await Self.discovery(provider, req, fresh: true) } catch { throw error.page }
        guard let authorizationEndpoint = discovery.authorizationEndpoint,
            var url = URLComponents(string: authorizationEndpoint)
        else { throw SignInFailure.providerUnreachable.page }

        let state = OpaqueSecret.base64URL()
        let browser = OpaqueSecret.base64URL()
        let nonce = OpaqueSecret.base64URL()
        let verifier = OpaqueSecret.base64URL()
        try await OIDCSignInAttempt(
            stateHash: OpaqueSecret.hash(state),
            browserHash: OpaqueSecret.hash(browser),
            nonce: nonce,
            codeVerifier: verifier,
            next: next,
            expiresAt: req.now.addingTimeInterval(OIDCSignInAttempt.lifetime)
        ).create(on: req.db)

        url.queryItems =
            (url.queryItems ?? []) + [
                URLQueryItem(name: "response_type", value: "code"),
                URLQueryItem(name: "client_id", value: provider.settings.clientID),
                URLQueryItem(name: "redirect_uri", value: callbackURL(req.application)),
                URLQueryItem(name: "scope", value: provider.settings.scopes.joined(separator: " ")),
                URLQueryItem(name: "state", value: state),
                URLQueryItem(name: "nonce", value: nonce),
                URLQueryItem(
                    name: "code_challenge",
                    value: Data(SHA256.hash(data: Data(verifier.utf8))).base64URLEncoded
                ),
                URLQueryItem(name: "code_challenge_method", value: "S256"),
            ]
        let response = req.redirect(to: url.string ?? authorizationEndpoint, redirectType: .normal)
        let https = req.application.servesHTTPS
        // Lax: the provider's redirect back is a top-level GET from another site.
        response.cookies[cookieName(https: https)] = HTTPCookies.Value(
            string: browser,
            maxAge: Int(OIDCSignInAttempt.lifetime),
            path: "/",
            isSecure: https,
            isHTTPOnly: true,
            sameSite: .lax
        )
        return response
    }

    /// `GET /login/oidc/callback?code=…&state=…` (or `?error=…`): the provider's answer.
    @Sendable static func callback(req: Request) async throws -> Response {
        let provider = try Self.provider(req)
        do {
            // A refusal signs nobody in whatever its state, so it is told as it is even when the
            // provider leaves the state out (as some do, against RFC 6749 §4.1.2.1).
            if let error = req.query[String.self, at: "error"] {
                _ = try? await claimAttempt(req)
                throw error == "access_denied" ? SignInFailure.denied : SignInFailure.providerError
            }
            let attempt = try await claimAttempt(req)
            guard let code = req.query[String.self, at: "code"], !code.isEmpty, code.fits(2_000),
                !code.containsControlCharacters
            else { throw SignInFailure.badCallback }
            let idToken = try await OIDCTokenExchange.idToken(
                code: code,
                verifier: attempt.codeVerifier,
                provider: provider,
                req: req
            )
            let claims: ProviderClaims
            do {
                claims = try await ProviderJWT.verify(
                    idToken,
                    keys: provider.keys,
                    expecting: ProviderJWT.Expectations(
                        issuer: provider.settings.issuer,
                        audience: provider.settings.clientID,
                        authorizedParties: nil,
                        idToken: (provider.settings.clientID, attempt.nonce)
                    ),
                    at: req.now,
                    app: req.application
                )
            } catch let failure as ProviderJWT.Failure {
                throw SignInFailure.badIDToken(failure)
            }
            let user = try await AccountLinking.account(for: claims, provider: provider.settings, on: req.db)
            let response = try await WebSignIn.complete(as: user, method: .oidc, next: attempt.next, req: req)
            response.cookies[cookieName(https: req.application.servesHTTPS)] = expiredCookie(req)
            return response
        } catch let failure as SignInFailure {
            try await WebSignIn.audit(
                failureOf: .oidc,
                reason: failure.reason,
                about: failure.subject,
                req: req
            )
            req.logger.info("OpenID Connect sign-in refused", metadata: ["reason": .string(failure.reason)])
            throw failure.page
        }
    }

    /// The attempt `state` names, if this browser started it and it has not expired.
    private static func claimAttempt(_ req: Request) async throws -> OIDCSignInAttempt {
        let browser = req.cookies[cookieName(https: req.application.servesHTTPS)]?.string ?? ""
        guard let state = req.query[String.self, at: "state"], state.fits(200), !state.containsControlCharacters,
            !browser.isEmpty, browser.fits(200),
            let attempt = try await OIDCSignInAttempt.claim(state: state, browser: browser, on: req.db),
            attempt.expiresAt > req.now
        else { throw SignInFailure.badState }
        return attempt
    }

    private static func provider(_ req: Request) throws -> OIDCProvider {
        guard let provider = req.application.oidcProvider else { throw Abort(.notFound) }
        return provider
    }

    static func discovery(
        _ provider: OIDCProvider,
        _ req: Request,
        fresh: Bool = false
    ) async throws(SignInFailure) -> DiscoveryDocument {
        do {
            return try await provider.discovery.document(at: req.now, app: req.application, fresh: fresh)
        } catch {
            req.logger.warning("the OpenID Connect provider is unreachable", metadata: ["error": .string("\(error)")])
            throw SignInFailure.providerUnreachable
        }
    }

    private static func expiredCookie(_ req: Request) -> HTTPCookies.Value {
        HTTPCookies.Value(
            string: "",
            maxAge: 0,
            path: "/",
            isSecure: req.application.servesHTTPS,
            isHTTPOnly: true,
            sameSite: .lax
        )
    }
}
