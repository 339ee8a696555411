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
    /// Seconds the code stays valid: the server's `expires_in`, at most `longestExpiry`.
    public let expiresIn: Int
    /// Seconds between polls: the server's `interval` (5 without one) within `intervalBounds`.
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
    /// The seconds between polls that the client keeps to, whatever the server asks: a server
    /// asking less gets 1 s, more gets 60 s (also the most that `slow_down` grows it to).
    public static let intervalBounds = 1...60
    /// The longest wait for an approval: a code said to live longer counts as living 24 hours.
    /// A code that lives 0 s or less is an error.
    public static let longestExpiry = 86_400
    /// DevicePortal's user codes: 8 letters of this alphabet, shown as XXXX-XXXX.
    static let userCodeAlphabet = Set("BCDFGHJKLMNPQRSTVWXZ")

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

    /// Checks the answer: the pages must be http(s) on the issuer's own origin (the person opens
    /// them and signs in there), the user code must be one of DevicePortal's, and the times are
    /// kept within bounds so that no wait can overflow or last for ever.
    init(
        _ body: Body,
        issuer: URL,
        tokenEndpoint: URL,
        requestedAt: Duration,
        receivedAt: Duration,
        status: Int
    ) throws {
        func invalid(_ detail: String) -> PortalClientError {
            .unexpectedResponse(status: status, detail: detail)
        }
        func webPage(_ name: String, _ text: String) throws -> URL {
            let shown = ServerText.singleLine(text)
            guard let url = URL(string: text), let origin = Origin(url), url.user == nil, url.password == nil else {
                throw invalid("\(name) is not an http(s) URL: \(shown)")
            }
            guard origin == Origin(issuer) else {
                throw invalid(
                    "\(name) \(shown) is not on the server's own address \(Origin(issuer)?.description ?? "")"
                )
            }
            return url
        }
        guard Self.isUserCode(body.userCode) else {
            throw invalid(
                "user_code \"\(ServerText.singleLine(body.userCode, limit: 20))\" is not XXXX-XXXX in BCDFGHJKLMNPQRSTVWXZ"
            )
        }
        guard !body.deviceCode.isEmpty else { throw invalid("incomplete device authorization: no device_code") }
        guard body.expiresIn > 0 else {
            throw invalid("expires_in \(body.expiresIn) is not a positive number of seconds")
        }
        self.userCode = body.userCode
        self.verificationURI = try webPage("verification_uri", body.verificationURI)
        self.verificationURIComplete = try body.verificationURIComplete.map {
            try webPage("verification_uri_complete", $0)
        }
        self.expiresIn = min(body.expiresIn, Self.longestExpiry)
        let interval = body.interval ?? Self.defaultInterval
        self.interval = min(max(interval, Self.intervalBounds.lowerBound), Self.intervalBounds.upperBound)
        self.deviceCode = body.deviceCode
        self.tokenEndpoint = tokenEndpoint
        self.requestedAt = requestedAt
        self.receivedAt = receivedAt
    }

    /// `XXXX-XXXX` in DevicePortal's alphabet, which has no vowels and no look-alike letters.
    static func isUserCode(_ text: String) -> Bool {
        let characters = Array(text)
        guard characters.count == 9, characters[4] == "-" else { return false }
        return characters.enumerated().allSatisfy { index, character in
            index == 4 || userCodeAlphabet.contains(character)
        }
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
            ],
            displayStyle: .struct
        )
    }
}
