import Vapor

/// The address of the person or app behind a request. `X-Forwarded-For` is believed only
/// when the peer is a trusted proxy (`TRUSTED_PROXIES`), and then only as far as the
/// chain passes through trusted proxies: the first untrusted hop from the right is the client.
enum ClientAddress {
    static func of(peer: String?, forwardedFor: [String], trusted: [IPRange]) -> String? {
        guard var client = peer else { return nil }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard Self.isTrusted(client, trusted), IPRange.bytes(of: hop) != nil else { break }
            client = hop
        }
        return client
    }

    private static func isTrusted(_ address: String, _ trusted: [IPRange]) -> Bool {
        trusted.contains { $0.contains(address) }
    }
}

extension Request {
    /// The client's IP address, as shown on the approval page and used by the rate limits.
    var clientIP: String? {
        ClientAddress.of(
            peer: remoteAddress?.ipAddress, forwardedFor: headers[.xForwardedFor],
            trusted: application.config.trustedProxies)
    }
}
