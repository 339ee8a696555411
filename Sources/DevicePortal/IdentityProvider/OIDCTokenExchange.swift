import Vapor

/// The back-channel half of the code flow: the code and the PKCE verifier for the ID token,
/// at the provider's token endpoint, authenticated as the discovery document allows
/// (`client_secret_basic` unless only `client_secret_post` is offered; no secret: a public client).
enum OIDCTokenExchange {
    private struct TokenAnswer: Decodable {
        let idToken: String?

        enum CodingKeys: String, CodingKey {
            case idToken = "id_token"
        }
    }

    static func idToken(code: String, verifier: String, provider: OIDCProvider, req: Request) async throws -> String {
        let discovery = try await OIDCSignInController.discovery(provider, req)
        guard let endpoint = discovery.tokenEndpoint else { throw SignInFailure.providerUnreachable }
        let settings = provider.settings
        var fields = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", OIDCSignInController.callbackURL(req.application)),
            ("code_verifier", verifier),
        ]
        var headers = HTTPHeaders()
        if let secret = settings.clientSecret {
            let methods = discovery.tokenEndpointAuthMethods ?? ["client_secret_basic"]
            if methods.contains("client_secret_basic") || !methods.contains("client_secret_post") {
                // RFC 6749 §2.3.1: each part form-encoded before base64.
                let credentials = FormEncoding.escape(settings.clientID) + ":" + FormEncoding.escape(secret)
                headers.replaceOrAdd(
                    name: .authorization,
                    value: "Basic " + Data(credentials.utf8).base64EncodedString()
                )
            } else {
                fields += [("client_id", settings.clientID), ("client_secret", secret)]
            }
        } else {
            fields.append(("client_id", settings.clientID))
        }
        let response: ClientResponse
        do {
            response = try await ProviderFetch.postForm(endpoint, fields: fields, headers: headers, client: req.client)
        } catch {
            req.application.metrics.identityProviderReached(.oidc, document: .token, ok: false)
            req.logger.warning("the provider's token endpoint failed", metadata: ["error": .string("\(error)")])
            throw SignInFailure.providerUnreachable
        }
        req.application.metrics.identityProviderReached(.oidc, document: .token, ok: response.status.code < 500)
        guard response.status == .ok else { throw SignInFailure.codeRefused }
        guard let answer = try? ProviderFetch.decode(TokenAnswer.self, response, from: endpoint),
            let idToken = answer.idToken
        else { throw SignInFailure.codeRefused }
        return idToken
    }
}
