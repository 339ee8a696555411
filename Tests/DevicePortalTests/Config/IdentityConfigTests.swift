import Foundation
import Testing

@testable import DevicePortal

@Suite("Identity provider settings")
struct IdentityConfigTests {
    private func load(_ values: [String: String]) throws -> PortalConfig {
        try PortalConfig.fromEnvironment { values[$0] }
    }

    /// The variable the error names, or nil when the values were accepted.
    private func refusal(_ values: [String: String]) -> String? {
        do {
            _ = try load(values)
            return nil
        } catch let error as ConfigurationError {
            return error.variable
        } catch {
            return "\(error)"
        }
    }

    @Test("defaults: no provider, passwords on, no external JWTs")
    func defaults() throws {
        let config = try load([:])
        #expect(config.oidc == nil)
        #expect(config.passwordSignIn)
        #expect(config.externalJWT == nil)
    }

    @Test("OIDC_* are read together, with the contract's defaults")
    func oidc() throws {
        let config = try load(["OIDC_ISSUER": "https://login.example.com", "OIDC_CLIENT_ID": "portal"])
        let oidc = try #require(config.oidc)
        #expect(oidc.clientSecret == nil)
        #expect(oidc.name == "your company account")
        #expect(oidc.scopes == ["openid", "email", "profile"])
        #expect(oidc.autoCreate)
        let custom = try #require(
            try load([
                "OIDC_ISSUER": "http://127.0.0.1:9400", "OIDC_CLIENT_ID": "portal", "OIDC_CLIENT_SECRET": "s",
                "OIDC_NAME": "Acme SSO", "OIDC_SCOPES": "openid email", "OIDC_AUTO_CREATE": "false",
                "PASSWORD_SIGNIN": "false",
            ]).oidc
        )
        #expect(custom.clientSecret == "s")
        #expect(custom.scopes == ["openid", "email"])
        #expect(!custom.autoCreate)
    }

    @Test("a half-configured provider stops start-up, naming the variable")
    func refusals() {
        #expect(refusal(["OIDC_ISSUER": "https://login.example.com"]) == "OIDC_CLIENT_ID")
        #expect(refusal(["OIDC_ISSUER": "http://login.example.com", "OIDC_CLIENT_ID": "p"]) == "OIDC_ISSUER")
        #expect(
            refusal(["OIDC_ISSUER": "https://l.example.com", "OIDC_CLIENT_ID": "p", "OIDC_SCOPES": "email"])
                == "OIDC_SCOPES"
        )
        #expect(refusal(["PASSWORD_SIGNIN": "false"]) == "PASSWORD_SIGNIN")
        #expect(
            refusal(["EXTERNAL_JWT_ISSUER": "https://a", "EXTERNAL_JWT_JWKS_URL": "http://keys.example.com/j"])
                == "EXTERNAL_JWT_JWKS_URL"
        )
        #expect(
            refusal(["EXTERNAL_JWT_ISSUER": "https://a", "EXTERNAL_JWT_ORG_CLAIM": "o..id"]) == "EXTERNAL_JWT_ORG_CLAIM"
        )
    }

    @Test("an issuer the keys would be found from must be https (http only on this machine)")
    func externalIssuerWithoutKeySetURL() {
        #expect(refusal(["EXTERNAL_JWT_ISSUER": "http://idp.corp"]) == "EXTERNAL_JWT_ISSUER")  // MUT
        #expect(refusal(["EXTERNAL_JWT_ISSUER": "acme-sso"]) == "EXTERNAL_JWT_ISSUER")
        #expect(refusal(["EXTERNAL_JWT_ISSUER": "https://idp.corp"]) == nil)
        #expect(refusal(["EXTERNAL_JWT_ISSUER": "http://127.0.0.1:9000"]) == nil)
        #expect(
            refusal(["EXTERNAL_JWT_ISSUER": "acme-sso", "EXTERNAL_JWT_JWKS_URL": "https://idp.corp/keys"]) == nil
        )
    }

    @Test("EXTERNAL_JWT_* with a dotted org claim and a list of parties")
    func externalJWT() throws {
        let settings = try #require(
            try load([
                "EXTERNAL_JWT_ISSUER": "https://clerk.example.com", "EXTERNAL_JWT_AUDIENCE": "app",
                "EXTERNAL_JWT_AUTHORIZED_PARTIES": "https://a.example.com, https://b.example.com",
                "EXTERNAL_JWT_ORG_CLAIM": "o.id",
            ]).externalJWT
        )
        #expect(settings.jwksURL == nil)
        #expect(settings.audience == "app")
        #expect(settings.authorizedParties == ["https://a.example.com", "https://b.example.com"])
        #expect(settings.organizationClaim == ["o", "id"])
        #expect(try load(["EXTERNAL_JWT_ISSUER": "https://x.example"]).externalJWT?.organizationClaim == ["org_id"])
    }
}
