import Crypto
import Fluent
import Foundation
import JWTKit
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Session JWTs")
struct SessionJWTTests {
    /// Ada, signed in, with a fresh session JWT.
    private func signedInWithJWT(_ app: Application) async throws -> (Browser, String) {
        try await Fixtures(app: app).standardCast(role: "admin")
        let browser = Browser(app: app)
        try await browser.signIn()
        try await browser.get("/auth/device")
        return (browser, try await browser.sessionJWT())
    }

    /// A JWT's header and claims, decoded as JWTKit and the portal read them.
    private func parts(_ jwt: String) throws -> (header: JWTHeader, claims: SessionClaims) {
        let pieces = jwt.split(separator: ".").map(String.init)
        func decode<Part: Decodable>(_ piece: String, as _: Part.Type) throws -> Part {
            try Self.jwtDecoder.decode(Part.self, from: try #require(Data(base64URLEncoded: piece)))
        }
        return (try decode(pieces[0], as: JWTHeader.self), try decode(pieces[1], as: SessionClaims.self))
    }

    /// JWTs carry times as seconds since 1970 (RFC 7519 §2, NumericDate).
    private static let jwtDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }()

    private static let jwtEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return encoder
    }()

    /// A JWT signed with the portal's own current key, with whatever claims a test needs.
    private func forge(_ app: Application, _ claims: SessionClaims) async throws -> String {
        let keys = try await app.signingKeys.current(on: app.db)
        return try await keys.keys.sign(claims, kid: JWKIdentifier(string: keys.signingKID))
    }

    private func claims(
        _ app: Application,
        user: UUID,
        org: UUID,
        session: UUID,
        issuedAt: Date = Date(),
        lifetime: TimeInterval = 60,
        issuer: String? = nil
    ) -> SessionClaims {
        SessionClaims(
            iss: IssuerClaim(value: issuer ?? app.publicBaseURL),
            sub: SubjectClaim(value: user.uuidString),
            org: org.uuidString,
            sid: session.uuidString,
            iat: IssuedAtClaim(value: issuedAt),
            exp: ExpirationClaim(value: issuedAt.addingTimeInterval(lifetime))
        )
    }

    private func me(_ app: Application, _ jwt: String) async throws -> TestingHTTPResponse {
        try await DesktopApp(app: app).me(jwt)
    }

    @Test("a signed-in browser gets an ES256 JWT with kid, iss, sub, org, sid, iat and exp")
    func mint() async throws {
        try await withPortal { app in
            let (browser, jwt) = try await signedInWithJWT(app)  // MUT
            let (header, claims) = try parts(jwt)
            #expect(header.alg == "ES256")
            let kid = try #require(header.kid)
            #expect(try await SigningKey.query(on: app.db).filter(\.$kid == kid).count() == 1)
            let user = try #require(try await User.find(email: "ada@example.com", on: app.db))
            let organization = try #require(try await Organization.find(slug: "acme", on: app.db))
            let session = try #require(try await WebSession.query(on: app.db).first())
            #expect(claims.iss.value == app.publicBaseURL)
            #expect(claims.sub.value == user.id?.uuidString)
            #expect(claims.org == organization.id?.uuidString)
            #expect(claims.sid == session.id?.uuidString)
            #expect(claims.sid != browser.cookies[SessionCookie.name])
            #expect(claims.exp.value == claims.iat.value.addingTimeInterval(60))

            let response = try await me(app, jwt)
            #expect(response.status == .ok)
            let me = try response.decoded(as: MeController.Me.self)
            #expect(me.auth.type == "session")
            #expect(me.auth.tokenID == nil)
            #expect(me.role.name == "admin")
        }
    }

    @Test("minting needs a signed-in session and its CSRF token")
    func mintGuards() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let anonymous = try await app.testing().sendRequest(.POST, "/auth/session/token")
            #expect(anonymous.status == .forbidden || anonymous.status == .unauthorized)
            let browser = Browser(app: app)
            try await browser.signIn()
            let forged = try await browser.postFromScript(
                "/auth/session/token",
                csrfToken: String(repeating: "0", count: 64)
            )
            #expect(forged.status == .forbidden)
            #expect(throws: (any Error).self) { try forged.decoded(as: SessionTokenController.SessionToken.self) }
        }
    }

    @Test("tampered, alg none, HS256 with the public key, unknown kid, or another issuer: 401")
    func forgeries() async throws {
        try await withPortal { app in
            let (_, jwt) = try await signedInWithJWT(app)
            let pieces = jwt.split(separator: ".").map(String.init)
            var (header, claims) = try parts(jwt)
            func encode(_ part: some Encodable) throws -> String {
                try Self.jwtEncoder.encode(part).base64URLEncoded
            }

            claims = SessionClaims(
                iss: claims.iss,
                sub: claims.sub,
                org: UUID().uuidString,
                sid: claims.sid,
                iat: claims.iat,
                exp: claims.exp
            )
            let tampered = [pieces[0], try encode(claims), pieces[2]].joined(separator: ".")

            var noneHeader = header
            noneHeader.alg = "none"
            let unsigned = [try encode(noneHeader), pieces[1], ""].joined(separator: ".")

            // The classic confusion: HMAC keyed with the published public key.
            let jwks = try await app.testing().sendRequest(.GET, "/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            let publicKey = try #require(
                try await SigningKey.query(on: app.db).first().flatMap { Data(base64Encoded: $0.publicKey) }
            )
            var hmacHeader = header
            hmacHeader.alg = "HS256"
            let hmacInput = try encode(hmacHeader) + "." + pieces[1]
            let mac = HMAC<SHA256>.authenticationCode(for: Data(hmacInput.utf8), using: SymmetricKey(data: publicKey))
            let confused = hmacInput + "." + Data(mac).base64URLEncoded

            header.kid = "no-such-key"
            let unknownKid = [try encode(header), pieces[1], pieces[2]].joined(separator: ".")

            let organization = try #require(try await Organization.find(slug: "acme", on: app.db))
            let user = try #require(try await User.find(email: "ada@example.com", on: app.db))
            let session = try #require(try await WebSession.query(on: app.db).first())
            let otherIssuer = try await forge(
                app,
                self.claims(
                    app,
                    user: user.id!,
                    org: organization.id!,
                    session: session.id!,
                    issuer: "https://evil.example"
                )
            )

            for (name, credential) in [
                ("tampered", tampered), ("alg none", unsigned), ("HS256", confused), ("unknown kid", unknownKid),
                ("issuer", otherIssuer), ("garbage", "a.b.c"), ("not a JWT", "hello"),
            ] {
                let response = try await me(app, credential)  // MUT
                #expect(response.status == .unauthorized, "\(name)")
                #expect(response.headers.first(name: .wwwAuthenticate) == #"Bearer error="invalid_token""#, "\(name)")
            }
            #expect(try await me(app, jwt).status == .ok)
        }
    }

    @Test("expired beyond the leeway, or issued in the future: 401")
    func time() async throws {
        try await withPortal { app in
            _ = try await signedInWithJWT(app)
            let organization = try #require(try await Organization.find(slug: "acme", on: app.db))
            let user = try #require(try await User.find(email: "ada@example.com", on: app.db))
            let session = try #require(try await WebSession.query(on: app.db).first())
            func jwt(issuedAt: Date) async throws -> String {
                try await forge(
                    app,
                    claims(app, user: user.id!, org: organization.id!, session: session.id!, issuedAt: issuedAt)
                )
            }
            #expect(try await me(app, jwt(issuedAt: Date().addingTimeInterval(-100))).status == .unauthorized)
            #expect(try await me(app, jwt(issuedAt: Date().addingTimeInterval(120))).status == .unauthorized)
            // Within the clock-skew allowance.
            #expect(try await me(app, jwt(issuedAt: Date().addingTimeInterval(-70))).status == .ok)
            #expect(try await me(app, jwt(issuedAt: Date().addingTimeInterval(10))).status == .ok)
        }
    }

    @Test("signing out of the web session kills its JWTs at once")
    func signOut() async throws {
        try await withPortal { app in
            let (browser, jwt) = try await signedInWithJWT(app)
            #expect(try await me(app, jwt).status == .ok)
            try await browser.post("/logout", [])
            let response = try await me(app, jwt)  // MUT
            #expect(response.status == .unauthorized)
            #expect(try response.oauthErrorBody.errorDescription == SessionLookup.Failure.signedOut.description)
        }
    }

    @Test("a removed member's JWT, or a JWT for an org the user is not in, is refused")
    func membership() async throws {
        try await withPortal { app in
            let (_, jwt) = try await signedInWithJWT(app)
            let fixtures = Fixtures(app: app)
            let user = try #require(try await User.find(email: "ada@example.com", on: app.db))
            let acme = try #require(try await Organization.find(slug: "acme", on: app.db))
            let session = try #require(try await WebSession.query(on: app.db).first())
            let globex = try await fixtures.organization("globex")
            let foreign = try await forge(app, claims(app, user: user.id!, org: globex.id!, session: session.id!))
            #expect(try await me(app, foreign).status == .unauthorized)

            let boss = try await fixtures.user("boss@example.com")
            try await fixtures.member(boss, of: acme, as: "owner")
            try await Fixtures(app: app).remove(user, from: acme)
            let response = try await me(app, jwt)  // MUT
            #expect(response.status == .unauthorized)
            #expect(try response.oauthErrorBody.errorDescription == SessionLookup.Failure.notAMember.description)
        }
    }

    @Test("after a rotation old JWTs verify until their keys' retention ends; the JWKS follows")
    func rotation() async throws {
        try await withPortal { app in
            let (browser, oldJWT) = try await signedInWithJWT(app)
            let oldKid = try #require(try parts(oldJWT).header.kid)
            let output = try await runCommand(app, "rotate-signing-key", [])  // MUT
            #expect(output.contains("New signing key"))
            // Another instance would see the new key within the refresh interval; force it here.
            _ = try await app.signingKeys.refreshed(on: app.db, now: Date().addingTimeInterval(5))
            let newJWT = try await browser.sessionJWT()
            let newKid = try #require(try parts(newJWT).header.kid)
            #expect(newKid != oldKid)
            #expect(try await me(app, oldJWT).status == .ok)
            #expect(try await me(app, newJWT).status == .ok)
            let kids = try await jwksKids(app)
            #expect(kids == [oldKid, newKid])

            let retired = try #require(try await SigningKey.query(on: app.db).filter(\.$kid == oldKid).first())
            retired.retiredAt = Date().addingTimeInterval(-3_600)
            try await retired.save(on: app.db)
            _ = try await app.signingKeys.refreshed(on: app.db, now: Date().addingTimeInterval(10))
            #expect(try await jwksKids(app) == [newKid])
            #expect(try await me(app, oldJWT).status == .unauthorized)
        }
    }

    private func jwksKids(_ app: Application) async throws -> Set<String> {
        let response = try await app.testing().sendRequest(.GET, "/.well-known/jwks.json")
        let keys = try response.decoded(as: JWKSDocument.self).keys
        #expect(keys.allSatisfy { $0.kty == "EC" && $0.crv == "P-256" })
        // Only the public members of an EC key (RFC 7518 §6.2.1): never `d`, the private one.
        let members = try response.decoded(as: [String: [[String: String]]].self)["keys"] ?? []
        #expect(members.count == keys.count)
        #expect(members.allSatisfy { Set($0.keys) == ["kty", "crv", "use", "alg", "kid", "x", "y"] })
        return Set(keys.map(\.kid))
    }

    @Test("private keys are stored only sealed with PORTAL_SECRET")
    func sealedKeys() async throws {
        try await withPortal { app in
            _ = try await signedInWithJWT(app)
            let key = try #require(try await SigningKey.query(on: app.db).first())
            let secret = try #require(app.config.portalSecret)
            let privateKey = try key.privateKey(unsealingWith: secret)
            let contents = try await databaseContents(app)
            #expect(contents.range(of: privateKey.rawRepresentation) == nil)
            #expect(contents.range(of: Data(privateKey.rawRepresentation.base64EncodedString().utf8)) == nil)
            let wrong = PortalSecret(String(repeating: "cd", count: 32))!
            #expect(throws: (any Error).self) { try key.privateKey(unsealingWith: wrong) }
        }
    }

    @Test("a JWT minted by one instance is accepted by another sharing the database")
    func acrossInstances() async throws {
        try await withPortal { first in
            let (_, jwt) = try await signedInWithJWT(first)
            let second = try await Application.make(.testing)
            second.directory = DirectoryConfiguration(workingDirectory: packageRoot)
            second.logger.logLevel = .warning
            do {
                try configure(second, with: first.config)
                try await second.asyncBoot()
                #expect(
                    try await second.testing().sendRequest(.GET, "/me", headers: ["Authorization": "Bearer \(jwt)"])
                        .status == .ok
                )
            } catch {
                try? await second.asyncShutdown()
                throw error
            }
            try await second.asyncShutdown()
        }
    }
}
