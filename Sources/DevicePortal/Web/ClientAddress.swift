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

    /// What a per-IP rate limit counts: an IPv4 address, or an IPv6 address's /64, since one
    /// host is usually handed a whole /64 and could rotate through it past any per-address limit.
    static func rateLimitKey(_ address: String?) -> String {
        guard let address, let bytes = IPRange.bytes(of: address) else { return address ?? "unknown" }
        guard bytes.count == 16 else { return address }
        let groups = stride(from: 0, to: 8, by: 2).map {
            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
        }
        return groups.joined(separator: ":") + "::/64"
    }

    private static func isTrusted(_ address: String, _ trusted: [IPRange]) -> Bool {
        trusted.contains { $0.contains(address) }
    }
}

extension Request {
    /// The client's IP address, as shown on the approval page and used by the rate limits.
    var clientIP: String? {
        ClientAddress.of(
            peer: remoteAddress?.ipAddress,
            forwardedFor: headers[.xForwardedFor],
            trusted: application.config.trustedProxies
        )
    }

    /// The client as the per-IP rate limits count it.
    var rateLimitIP: String { ClientAddress.rateLimitKey(clientIP) }
}
