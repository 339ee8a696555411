import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The desktop side of DevicePortal's device flow (RFC 8628):
/// ```swift
/// let portal = PortalClient(server: URL(string: "https://portal.example.com")!, clientID: "acme-desktop")
/// let signIn = try await portal.startSignIn(deviceName: "ada-laptop")
/// print("Open \(signIn.verificationURIComplete ?? signIn.verificationURI), code \(signIn.userCode)")
/// let signedIn = try await portal.waitForToken(signIn)
/// ```
/// Calls throw `PortalClientError`, or `CancellationError` when the calling task is cancelled.
public struct PortalClient: Sendable {
    /// The portal's address, its RFC 8414 issuer, such as `https://portal.example.com`.
    public let server: URL
    public let clientID: String
    /// Whether plain http to a host other than this machine is allowed (see `init`).
    public let allowsInsecureHTTP: Bool
    /// The `User-Agent` of every request (see `init`).
    public let userAgent: String
    let http: HTTPExchange
    let clock: any PollingClock

    public static let deviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"

    /// A session that keeps nothing: no response cache, no cookies, no stored credentials.
    public static let ephemeralSession: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.urlCredentialStorage = nil
        return URLSession(configuration: configuration)
    }()

    /// Requests go only to `server`'s origin, over https, or over plain http when the server is
    /// this machine (`localhost`, 127.0.0.0/8, ::1); `allowsInsecureHTTP` accepts plain http to any
    /// host, which sends the token unencrypted. No redirect is followed, with any `session`.
    ///
    /// Every request carries `userAgent`, which the portal's approval page shows as the software
    /// asking to sign in: give your app's own, such as `PortalClient.userAgent(product: "acme-desktop/2.3")`
    /// (`acme-desktop/2.3 (macOS 15.1)`). Controls and other bytes that cannot go in a header are
    /// dropped from it; an empty one means `defaultUserAgent`.
    public init(
        server: URL,
        clientID: String,
        session: URLSession = ephemeralSession,
        clock: any PollingClock = SystemPollingClock(),
        allowsInsecureHTTP: Bool = false,
        userAgent: String = defaultUserAgent
    ) {
        self.server = server
        self.clientID = clientID
        self.allowsInsecureHTTP = allowsInsecureHTTP
        self.userAgent = Self.headerValue(userAgent) ?? Self.defaultUserAgent
        self.http = HTTPExchange(session: session, userAgent: self.userAgent, allowsInsecureHTTP: allowsInsecureHTTP)
        self.clock = clock
    }

    /// Whether `url` is https, or plain http to this machine: what a client accepts without
    /// `allowsInsecureHTTP`.
    public static func isEncryptedOrLocal(_ url: URL) -> Bool {
        guard let origin = Origin(url) else { return false }
        return origin.scheme == "https" || origin.isLoopback
    }

    /// The server's endpoints, from `/.well-known/oauth-authorization-server`.
    public func metadata() async throws -> PortalMetadata {
        guard let url = PortalMetadata.wellKnownURL(for: server) else {
            throw PortalClientError.discovery("\(server.absoluteString) is not a server address")
        }
        let answer = try await http.get(url)
        let address = ServerText.singleLine(server.absoluteString)
        guard answer.status == 200 else {
            throw PortalClientError.discovery(
                "\(ServerText.singleLine(url.absoluteString)) answered HTTP \(answer.status); "
                    + "is \(address) a DevicePortal server?"
            )
        }
        let metadata: PortalMetadata
        do {
            metadata = try JSONDecoder().decode(PortalMetadata.self, from: answer.body)
        } catch {
            throw PortalClientError.discovery(
                "\(ServerText.singleLine(url.absoluteString)) is not usable metadata: \(answer.excerpt)"
            )
        }
        guard PortalMetadata.isSameIssuer(metadata.issuer, server) else {
            let issuer = ServerText.singleLine(metadata.issuer.absoluteString)
            throw PortalClientError.discovery(
                "the server's issuer is \(issuer), not \(address); use \(issuer) as the server address"
            )
        }
        if let outside = metadata.endpointOutsideIssuer() {
            throw PortalClientError.discovery(
                "its \(outside.name) \(ServerText.singleLine(outside.url.absoluteString)) is not on \(address) itself; "
                    + "the client sends codes and tokens to no other address"
            )
        }
        guard metadata.grantTypesSupported.isEmpty || metadata.grantTypesSupported.contains(Self.deviceCodeGrant)
        else {
            throw PortalClientError.discovery("the server does not offer the device authorization grant")
        }
        return metadata
    }

    /// Asks for a device code and a user code (RFC 8628 §3.1). `deviceName` is shown to the
    /// person on the approval page, so they can tell which machine is asking.
    public func startSignIn(deviceName: String? = nil) async throws -> DeviceSignIn {
        let metadata = try await metadata()
        var fields = [("client_id", clientID)]
        if let deviceName, !deviceName.isEmpty { fields.append(("device_name", deviceName)) }
        let requestedAt = clock.now()
        let answer = try await http.postForm(metadata.deviceAuthorizationEndpoint, fields)
        let receivedAt = clock.now()
        guard answer.status == 200 else { throw Self.failure(answer) }
        return try DeviceSignIn(
            answer.decode(DeviceSignIn.Body.self),
            issuer: metadata.issuer,
            tokenEndpoint: metadata.tokenEndpoint,
            requestedAt: requestedAt,
            receivedAt: receivedAt,
            status: answer.status
        )
    }

    /// `GET /me`: who the token acts as, with the user's current role.
    public func me(_ token: AccessToken) async throws -> Identity {
        let answer = try await http.get(server.appendingPathComponent("me"), bearer: token)
        guard answer.status == 200 else {
            if answer.status == 401 { throw PortalClientError.invalidToken }
            throw Self.failure(answer)
        }
        return try answer.decode(Identity.self)
    }

    /// Signs this device out (RFC 7009): the token is dead on the server from the next request on.
    /// Succeeds too when the token was already revoked or expired.
    public func signOut(_ token: AccessToken) async throws {
        let metadata = try await metadata()
        let answer = try await http.postForm(
            metadata.revocationEndpoint,
            [("token", token.value), ("token_type_hint", "access_token"), ("client_id", clientID)]
        )
        guard answer.status == 200 else { throw Self.failure(answer) }
    }

    /// The error an answer other than success stands for.
    static func failure(_ answer: HTTPExchange.Answer) -> PortalClientError {
        guard let oauth = answer.oauthError else {
            return .unexpectedResponse(status: answer.status, detail: answer.excerpt)
        }
        switch oauth.error {
        case "invalid_client": return .invalidClient(description: oauth.description)
        case "invalid_token": return .invalidToken
        case "access_denied": return .accessDenied
        case "expired_token": return .expired
        default: return .oauth(status: answer.status, error: oauth.error, description: oauth.description)
        }
    }
}
