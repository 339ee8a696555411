import Foundation

/// Sign-in with the company's OpenID Connect provider (`OIDC_*`); present when `OIDC_ISSUER` is set.
public struct OIDCSettings: Sendable {
    public var issuer: String
    public var clientID: String
    /// `nil`: a public client, which PKCE alone protects.
    public var clientSecret: String?
    /// The sign-in button's words: "Sign in with <name>".
    public var name: String
    public var scopes: [String]
    /// Whether a person the provider vouches for, with a verified email and no account, gets one.
    public var autoCreate: Bool

    public init(
        issuer: String,
        clientID: String,
        clientSecret: String? = nil,
        name: String = PortalConfig.Setting.oidcName.fallback,
        scopes: [String] = PortalConfig.Setting.oidcScopes.fallback,
        autoCreate: Bool = PortalConfig.Setting.oidcAutoCreate.fallback
    ) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.name = name
        self.scopes = scopes
        self.autoCreate = autoCreate
    }
}

/// The company's own session JWTs at the guard (`EXTERNAL_JWT_*`); present when
/// `EXTERNAL_JWT_ISSUER` is set.
public struct ExternalJWTSettings: Sendable {
    public var issuer: String
    /// `nil`: the `jwks_uri` of the issuer's discovery document, else `<issuer>/.well-known/jwks.json`.
    public var jwksURL: String?
    /// When set, `aud` must contain it.
    public var audience: String?
    /// When not empty, `azp` must be one of these.
    public var authorizedParties: [String]
    /// The claim naming the org's `external_id`, as a path into nested objects (`o.id` → ["o", "id"]).
    public var organizationClaim: [String]

    public init(
        issuer: String,
        jwksURL: String? = nil,
        audience: String? = nil,
        authorizedParties: [String] = [],
        organizationClaim: [String] = PortalConfig.Setting.externalJWTOrganizationClaim.fallback
    ) {
        self.issuer = issuer
        self.jwksURL = jwksURL
        self.audience = audience
        self.authorizedParties = authorizedParties
        self.organizationClaim = organizationClaim
    }
}

extension PortalConfig {
    /// An issuer or key-set URL: https, or plain http only on this machine (a provider under test).
    static func parseProviderURL(_ raw: String) -> String? {
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(),
            let host = url.host?.lowercased(), !host.isEmpty, url.query == nil, url.fragment == nil,
            !raw.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7f })
        else { return nil }
        switch scheme {
        case "https": return raw
        case "http" where ["localhost", "127.0.0.1", "::1", "[::1]"].contains(host): return raw
        default: return nil
        }
    }

    /// Words or values separated by commas or spaces; none empty.
    static func parseList(_ raw: String) -> [String]? {
        let items = raw.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        return items.isEmpty ? nil : items
    }

    /// `org_id`, or a dotted path such as `o.id`.
    static func parseClaimPath(_ raw: String) -> [String]? {
        let parts = raw.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 8, parts.allSatisfy({ $0.wholeMatch(of: /[A-Za-z0-9_:\-]{1,64}/) != nil }) else {
            return nil
        }
        return parts
    }

    /// The identity settings, checked together: a half-configured provider stops start-up.
    static func identitySettings(
        _ env: EnvironmentReader
    ) throws -> (
        oidc: OIDCSettings?, passwordSignIn: Bool, externalJWT: ExternalJWTSettings?
    ) {
        var oidc: OIDCSettings?
        if let issuer = try env.value(Setting.oidcIssuer) {
            guard let clientID = try env.value(Setting.oidcClientID) else {
                throw ConfigurationError(
                    variable: Setting.oidcClientID.name,
                    value: "",
                    expected: "the portal's client id at \(issuer) (OIDC_ISSUER is set)"
                )
            }
            let scopes = try env.value(Setting.oidcScopes)
            guard scopes.contains("openid") else {
                throw ConfigurationError(
                    variable: Setting.oidcScopes.name,
                    value: scopes.joined(separator: " "),
                    expected: Setting.oidcScopes.expected
                )
            }
            oidc = OIDCSettings(
                issuer: issuer,
                clientID: clientID,
                clientSecret: try env.value(Setting.oidcClientSecret),
                name: try env.value(Setting.oidcName),
                scopes: scopes,
                autoCreate: try env.value(Setting.oidcAutoCreate)
            )
        }
        let passwordSignIn = try env.value(Setting.passwordSignIn)
        if !passwordSignIn && oidc == nil {
            throw ConfigurationError(
                variable: Setting.passwordSignIn.name,
                value: "false",
                expected: "true unless OIDC_ISSUER is set (otherwise nobody could sign in)"
            )
        }
        var externalJWT: ExternalJWTSettings?
        if let issuer = try env.value(Setting.externalJWTIssuer) {
            let jwksURL = try env.value(Setting.externalJWTJWKSURL)
            // Without a key-set URL the keys are found from the issuer, which must then be a URL
            // the portal may fetch: keys over plain http could be anyone's.
            guard jwksURL != nil || PortalConfig.parseProviderURL(issuer) != nil else {
                throw ConfigurationError(
                    variable: Setting.externalJWTIssuer.name,
                    value: issuer,
                    expected: "an https URL (http only for localhost), or any issuer with EXTERNAL_JWT_JWKS_URL set"
                )
            }
            externalJWT = ExternalJWTSettings(
                issuer: issuer,
                jwksURL: jwksURL,
                audience: try env.value(Setting.externalJWTAudience),
                authorizedParties: try env.value(Setting.externalJWTAuthorizedParties),
                organizationClaim: try env.value(Setting.externalJWTOrganizationClaim)
            )
        }
        return (oidc, passwordSignIn, externalJWT)
    }
}

/// The identity provider's settings, declared as `Settings.swift` declares the others.
extension PortalConfig.Setting {
    private static func optionalText(
        _ name: String,
        expected: String,
        secret: Bool = false
    )
        -> PortalConfig
        .Variable<String?>
    {
        .init(
            name: name,
            fallback: nil,
            // `String??`: nil is a refusal, never "unset".
            parse: { raw -> String?? in
                let text = raw.trimmingCharacters(in: .whitespaces)
                return text.isEmpty || !text.fits(2_000) || text.containsControlCharacters ? nil : .some(text)
            },
            expected: expected,
            isSecret: secret
        )
    }

    private static func providerURL(_ name: String, expected: String) -> PortalConfig.Variable<String?> {
        .init(
            name: name,
            fallback: nil,
            parse: { PortalConfig.parseProviderURL($0).map(Optional.some) },
            expected: expected
        )
    }

    public static var oidcIssuer: PortalConfig.Variable<String?> {
        providerURL(
            "OIDC_ISSUER",
            expected: "the provider's issuer URL, https (http only for localhost), e.g. https://login.example.com"
        )
    }
    public static var oidcClientID: PortalConfig.Variable<String?> {
        optionalText("OIDC_CLIENT_ID", expected: "the portal's client id at the provider")
    }
    public static var oidcClientSecret: PortalConfig.Variable<String?> {
        optionalText("OIDC_CLIENT_SECRET", expected: "the client's secret at the provider", secret: true)
    }
    public static var oidcName: PortalConfig.Variable<String> {
        .init(
            name: "OIDC_NAME",
            fallback: "your company account",
            parse: PortalConfig.parseName,
            expected: "a name of 1 to 60 characters"
        )
    }
    public static var oidcScopes: PortalConfig.Variable<[String]> {
        .init(
            name: "OIDC_SCOPES",
            fallback: ["openid", "email", "profile"],
            parse: PortalConfig.parseList,
            expected: "scopes separated by spaces, openid among them"
        )
    }
    public static var oidcAutoCreate: PortalConfig.Variable<Bool> {
        .init(name: "OIDC_AUTO_CREATE", fallback: true, parse: PortalConfig.parseBool, expected: "true or false")
    }
    public static var passwordSignIn: PortalConfig.Variable<Bool> {
        .init(name: "PASSWORD_SIGNIN", fallback: true, parse: PortalConfig.parseBool, expected: "true or false")
    }
    public static var externalJWTIssuer: PortalConfig.Variable<String?> {
        optionalText("EXTERNAL_JWT_ISSUER", expected: "the issuer (iss) of the JWTs the guard accepts")
    }
    public static var externalJWTJWKSURL: PortalConfig.Variable<String?> {
        providerURL("EXTERNAL_JWT_JWKS_URL", expected: "the issuer's JWKS URL, https (http only for localhost)")
    }
    public static var externalJWTAudience: PortalConfig.Variable<String?> {
        optionalText("EXTERNAL_JWT_AUDIENCE", expected: "the audience (aud) the JWTs must name")
    }
    public static var externalJWTAuthorizedParties: PortalConfig.Variable<[String]> {
        .init(
            name: "EXTERNAL_JWT_AUTHORIZED_PARTIES",
            fallback: [],
            parse: PortalConfig.parseList,
            expected: "origins separated by commas, e.g. https://app.example.com"
        )
    }
    public static var externalJWTOrganizationClaim: PortalConfig.Variable<[String]> {
        .init(
            name: "EXTERNAL_JWT_ORG_CLAIM",
            fallback: ["org_id"],
            parse: PortalConfig.parseClaimPath,
            expected: "a claim name, or a dotted path for a nested claim such as o.id"
        )
    }
}
