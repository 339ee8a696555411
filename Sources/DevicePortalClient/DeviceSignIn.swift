import Foundation

/// A started sign-in (RFC 8628 §3.2): show `userCode` and send the person to
/// `verificationURIComplete` (or `verificationURI`, where they type the code), then
/// `PortalClient.waitForToken(_:)`.
public struct DeviceSignIn: Sendable {
    /// The code the person compares or types, such as `WDJB-MJHT`.
    public let userCode: String
    /// The page where the person types the code.
    public let verificationURI: URL
    /// The same page with the code filled in; open this one when you can.
    public let verificationURIComplete: URL?
    /// Seconds the code stays valid.
    public let expiresIn: Int
    /// Seconds the server asks between polls.
    public let interval: Int

    let deviceCode: String
    let tokenEndpoint: URL
    /// On the client's clock: when the code was asked for (its lifetime counts from then, which
    /// is never later than the server's count) and when the answer arrived.
    let requestedAt: Duration
    let receivedAt: Duration
}

extension DeviceSignIn {
    /// RFC 8628 §3.2: without `interval` a client waits 5 s.
    static let defaultInterval = 5

    struct Body: Decodable {
        let deviceCode: String
        let userCode: String
        let verificationURI: String
        let verificationURIComplete: String?
        let expiresIn: Int
        let interval: Int?

        enum CodingKeys: String, CodingKey {
            case deviceCode = "device_code"
            case userCode = "user_code"
            case verificationURI = "verification_uri"
            case verificationURIComplete = "verification_uri_complete"
            case expiresIn = "expires_in"
            case interval
        }
    }

    /// Checks the answer: the pages must be http(s), since a desktop app opens them in a browser.
    init(_ body: Body, tokenEndpoint: URL, requestedAt: Duration, receivedAt: Duration, status: Int) throws {
        func webPage(_ text: String) -> URL? {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
                ["http", "https"].contains(scheme), url.host != nil
            else { return nil }
            return url
        }
        guard let verificationURI = webPage(body.verificationURI) else {
            throw PortalClientError.unexpectedResponse(
                status: status, detail: "verification_uri is not an http(s) URL: \(body.verificationURI)")
        }
        guard !body.deviceCode.isEmpty, !body.userCode.isEmpty, body.expiresIn > 0 else {
            throw PortalClientError.unexpectedResponse(status: status, detail: "incomplete device authorization")
        }
        self.userCode = body.userCode
        self.verificationURI = verificationURI
        self.verificationURIComplete = body.verificationURIComplete.flatMap(webPage)
        self.expiresIn = body.expiresIn
        self.interval = max(body.interval ?? Self.defaultInterval, 1)
        self.deviceCode = body.deviceCode
        self.tokenEndpoint = tokenEndpoint
        self.requestedAt = requestedAt
        self.receivedAt = receivedAt
    }
}

/// The device code lets whoever holds it collect the token once the person approves: it is
/// left out of descriptions and dumps, like the token itself.
extension DeviceSignIn: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "DeviceSignIn(userCode: \(userCode), verificationURI: \(verificationURI.absoluteString), "
            + "expiresIn: \(expiresIn), interval: \(interval))"
    }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "userCode": userCode, "verificationURI": verificationURI,
                "verificationURIComplete": verificationURIComplete as Any, "expiresIn": expiresIn, "interval": interval,
            ], displayStyle: .struct)
    }
}
