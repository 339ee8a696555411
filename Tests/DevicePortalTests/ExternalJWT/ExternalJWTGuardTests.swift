import Fluent
import Foundation
import JWTKit
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("The company's session JWTs at the guard")
struct ExternalJWTGuardTests {
    static let audience = "analytics-app"
    static let party = "https://app.example.com"

    /// A portal that takes the fake provider's JWTs; Ada is a member of acme (external id
    /// `org_acme`), linked to `sub-ada`.
    private func withExternalJWTs(
        organizationClaim: [String] = ["org_id"],
        _ test: (Application, FakeIdentityProvider, User, Organization) async throws -> Void
    ) async throws {
        try await withPortal({
            $0.externalJWT = ExternalJWTSettings(
                issuer: FakeIdentityProvider.issuer,
                audience: Self.audience,
                authorizedParties: [Self.party],
                organizationClaim: organizationClaim
            )
        }) { app in
            let provider = FakeIdentityProvider()
            provider.install(in: app)
            let clock = MovableClock()
            app.clock = clock
            let (ada, acme, _) = try await Fixtures(app: app).standardCast()
            acme.externalID = "org_acme"
            try await acme.save(on: app.db)
            try await LinkedIdentity(issuer: FakeIdentityProvider.issuer, subject: "sub-ada", userID: ada.requireID())
                .create(on: app.db)
            try await test(app, provider, ada, acme)
        }
    }

    private static func claims(
        subject: String = "sub-ada",
        organization: ClaimValue? = .string("org_acme"),
        at now: Date = Date(),
        change: (inout [String: ClaimValue]) -> Void = { _ in }
    ) -> [String: ClaimValue] {
        var claims = FakeIdentityProvider.claims(
            subject: subject,
            audience: audience,
            issuedAt: now,
            extra: ["azp": .string(party)]
        )
        claims["org_id"] = organization
        change(&claims)
        return claims
    }

    private func me(_ app: Application, _ credential: String) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(.GET, "/me", headers: ["Authorization": "Bearer \(credential)"])
    }

    @Test("a company JWT acts as its linked account with the current role, on /me and the API")
    func acceptedWithCurrentRole() async throws {
        try await withExternalJWTs { app, provider, ada, acme in
            let jwt = try await provider.sign(Self.claims(at: app.clock.now))
            let first = try await me(app, jwt)
            #expect(first.status == .ok)
            let answer = try first.decoded(as: MeController.Me.self)
            #expect(answer.auth.type == "external_jwt")
            #expect(answer.user.email == "ada@example.com")
            #expect(answer.organization.slug == "acme")
            #expect(answer.role.name == "member")

            try await Fixtures(app: app).setRole(
                of: ada,
                in: acme,
                to: try await Fixtures(app: app).role("admin", in: acme)
            )
            #expect(try await me(app, jwt).decoded(as: MeController.Me.self).role.name == "admin")
            let members = try await app.testing().sendRequest(
                .GET,
                "/api/orgs/acme/members",
                headers: ["Authorization": "Bearer \(jwt)"]
            )
            #expect(members.status == .ok)
            #expect(members.text.contains("ada@example.com"))
        }
    }

    @Test("keys that cannot be read are skipped; the others verify (RFC 7517 §5)")
    func brokenKeysSkipped() async throws {
        try await withExternalJWTs { app, provider, _, _ in
            provider.publishBrokenKeys()
            let jwt = try await provider.sign(Self.claims(at: app.clock.now))
            #expect(try await me(app, jwt).status == .ok)
            let broken = try await provider.sign(Self.claims(at: app.clock.now), kid: "broken-rsa")
            #expect(try await me(app, broken).status == .unauthorized)
        }
    }

    @Test("a nested org claim is read by its dotted path")
    func nestedOrganizationClaim() async throws {
        try await withExternalJWTs(organizationClaim: ["o", "id"]) { app, provider, _, _ in
            let nested = try await provider.sign(
                Self.claims(organization: nil, at: app.clock.now) { $0["o"] = .object(["id": .string("org_acme")]) }
            )
            #expect(try await me(app, nested).status == .ok)
            let flat = try await provider.sign(Self.claims(at: app.clock.now))
            #expect(try await me(app, flat).status == .unauthorized)
        }
    }

    @Test("a removed member's JWT is refused on the very next request")
    func removedMemberRefused() async throws {
        try await withExternalJWTs { app, provider, ada, acme in
            let jwt = try await provider.sign(Self.claims(at: app.clock.now))
            #expect(try await me(app, jwt).status == .ok)
            try await Fixtures(app: app).remove(ada, from: acme)
            let refused = try await me(app, jwt)
            #expect(refused.status == .unauthorized)
            #expect(try refused.decoded(as: OAuthErrorBody.self).error == "invalid_token")
            #expect(try await refusals(app, "not_a_member") == 1)
        }
    }

    /// Each JWT that must be refused, and the reason the metric counts.
    static let forgeries: [(String, String)] = [
        ("expired", "expired"), ("not yet valid", "not_yet_valid"), ("another audience", "audience"),
        ("an unlisted azp", "authorized_party"), ("no azp", "authorized_party"), ("no org claim", "no_org_claim"),
        ("an unknown org", "unknown_org"), ("an unlinked sub", "unknown_subject"),
        ("an unknown kid", "unknown_key"), ("a broken signature", "signature"), ("alg none", "algorithm"),
        ("HS256 keyed with the public key", "algorithm"), ("ES384 in the header of an ES256 key", "algorithm"),
        ("a crit header", "algorithm"), ("no exp", "malformed"), ("an exp past the year 9999", "malformed"),
        ("a NUL in sub", "malformed"), ("a NUL in the org claim", "no_org_claim"),
    ]

    @Test("each bad JWT is 401 invalid_token with WWW-Authenticate, counted by its reason", arguments: forgeries)
    func refused(_ forgery: (String, String)) async throws {
        try await withExternalJWTs { app, provider, _, _ in
            let now = app.clock.now
            let (name, reason) = forgery
            let token: String
            switch name {
            case "expired": token = try await provider.sign(Self.claims(at: now.addingTimeInterval(-400)))
            case "not yet valid":
                token = try await provider.sign(
                    Self.claims(at: now) { $0["nbf"] = .number(now.timeIntervalSince1970 + 600) }
                )
            case "another audience":
                token = try await provider.sign(Self.claims(at: now) { $0["aud"] = .string("other") })
            case "an unlisted azp":
                token = try await provider.sign(Self.claims(at: now) { $0["azp"] = .string("https://evil.example") })
            case "no azp": token = try await provider.sign(Self.claims(at: now) { $0["azp"] = nil })
            case "no org claim": token = try await provider.sign(Self.claims(organization: nil, at: now))
            case "an unknown org":
                token = try await provider.sign(Self.claims(organization: .string("org_other"), at: now))
            case "an unlinked sub": token = try await provider.sign(Self.claims(subject: "sub-eve", at: now))
            case "an unknown kid": token = try await provider.sign(Self.claims(at: now), kid: "no-such-key")
            case "a broken signature":
                let good = try await provider.sign(Self.claims(at: now))
                token = String(good.dropLast(4)) + (good.hasSuffix("AAAA") ? "BBBB" : "AAAA")
            case "alg none": token = Self.unsigned(header: ["alg": "none"], Self.claims(at: now))
            case "HS256 keyed with the public key":
                let keys = JWTKeyCollection()
                let publicPEM = provider.currentKey.key.publicKey.pemRepresentation
                await keys.add(
                    hmac: HMACKey(from: publicPEM),
                    digestAlgorithm: .sha256,
                    kid: JWKIdentifier(string: provider.currentKey.kid)
                )
                token = try await keys.sign(
                    ProviderClaims(Self.claims(at: now)),
                    kid: JWKIdentifier(string: provider.currentKey.kid)
                )
            case "ES384 in the header of an ES256 key":
                let signed = try await provider.sign(Self.claims(at: now))
                token = Self.replacingHeader(of: signed, with: ["alg": "ES384", "kid": provider.currentKey.kid])
            case "a crit header":
                let signed = try await provider.sign(Self.claims(at: now))
                token = Self.replacingHeader(
                    of: signed,
                    with: ["alg": "ES256", "kid": provider.currentKey.kid, "crit": ["exp"]]
                )
            case "no exp": token = try await provider.sign(Self.claims(at: now) { $0["exp"] = nil })
            case "an exp past the year 9999":
                token = try await provider.sign(Self.claims(at: now) { $0["exp"] = .number(1e300) })
            case "a NUL in sub": token = try await provider.sign(Self.claims(subject: "sub-ada\u{0}", at: now))
            case "a NUL in the org claim":
                token = try await provider.sign(Self.claims(organization: .string("org_acme\u{0}"), at: now))
            default: Issue.record("unknown forgery \(name)"); return
            }
            let response = try await me(app, token)
            #expect(response.status == .unauthorized, "\(name)")
            #expect(try response.decoded(as: OAuthErrorBody.self).error == "invalid_token")
            #expect(response.headers.first(name: .wwwAuthenticate)?.contains("invalid_token") == true)
            #expect(try await refusals(app, reason) == 1, "\(name) counted as \(reason)")
        }
    }

    @Test("the keys are fetched once; an unknown kid refetches them at most once a minute")
    func keysFetchedRarely() async throws {
        try await withExternalJWTs { app, provider, _, _ in
            let clock = try #require(app.clock as? MovableClock)
            let jwt = try await provider.sign(Self.claims(at: clock.now))
            for _ in 0..<10 { #expect(try await me(app, jwt).status == .ok) }
            #expect(provider.fetches("/jwks") == 1)

            for index in 0..<20 {
                let forged = try await provider.sign(Self.claims(at: clock.now), kid: "forged-\(index)")
                #expect(try await me(app, forged).status == .unauthorized)
            }
            #expect(provider.fetches("/jwks") == 1, "unknown kids within the minute of the first fetch fetch nothing")

            clock.advance(by: 61)
            let rotated = provider.rotate()
            let fresh = try await provider.sign(Self.claims(at: clock.now))
            #expect(try await me(app, fresh).status == .ok, "the new key \(rotated) is fetched")
            #expect(provider.fetches("/jwks") == 2)
            #expect(try await me(app, jwt).status == .ok, "the old key is still published")
            #expect(provider.fetches("/jwks") == 2)
        }
    }

    @Test("a provider that is down: its JWTs are refused at once, API tokens do not notice")
    func providerDown() async throws {
        try await withExternalJWTs { app, provider, ada, acme in
            provider.setDown(true)
            let jwt = try await provider.sign(Self.claims(at: app.clock.now))
            for _ in 0..<5 { #expect(try await me(app, jwt).status == .unauthorized) }
            #expect(provider.fetches("/jwks") <= 1, "a failed fetch is not retried within the minute")
            #expect(try await refusals(app, "keys_unavailable") == 5)
            let token = try await Fixtures(app: app).token(
                for: ada,
                in: acme,
                client: try await Fixtures(app: app).client("cli")
            )
            #expect(try await me(app, token).status == .ok)

            provider.setDown(false)
            (app.clock as! MovableClock).advance(by: 61)
            #expect(try await me(app, jwt).status == .ok, "the keys come back on the first request after the minute")
        }
    }

    @Test("introspection names an accepted company JWT's type")
    func introspection() async throws {
        try await withExternalJWTs { app, provider, _, _ in
            try await Fixtures(app: app).client("reporting", name: "Reporting", confidential: true)
            let jwt = try await provider.sign(Self.claims(at: app.clock.now))
            let answer = try await app.testing().sendRequest(
                .POST,
                "/auth/introspect",
                headers: [
                    "Authorization": "Basic " + Data("reporting:s".utf8).base64EncodedString(),
                    "Content-Type": "application/x-www-form-urlencoded",
                ],
                body: formBody([("token", jwt)])
            )
            #expect(answer.status == .ok)
            #expect(answer.text.contains(#""token_type":"external_jwt""#))
            #expect(answer.text.contains(#""active":true"#))
        }
    }

    // MARK: helpers

    private func refusals(_ app: Application, _ reason: String) async throws -> Int {
        var bytes: [UInt8] = []
        app.metrics.registry.emit(into: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        let prefix = "portal_external_jwt_refusals_total{reason=\"\(reason)\"} "
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return 0 }
        return Int(line.dropFirst(prefix.count)) ?? -1
    }

    private static func base64URL(_ object: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: .sortedKeys)
        return data.base64URLEncoded
    }

    static func unsigned(header: [String: Any], _ claims: [String: ClaimValue]) -> String {
        let payload = try! JSONEncoder().encode(claims).base64URLEncoded
        return base64URL(header) + "." + payload + "."
    }

    static func replacingHeader(of token: String, with header: [String: Any]) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return base64URL(header) + "." + parts[1] + "." + parts[2]
    }
}
