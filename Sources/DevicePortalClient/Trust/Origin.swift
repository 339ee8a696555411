import Foundation

/// A URL's scheme, host and port (RFC 6454): the unit the client trusts. It talks only to the
/// origin of the server it was pointed at, whatever the server's answers name.
struct Origin: Equatable, Sendable, CustomStringConvertible {
    let scheme: String
    /// Lowercased, an IPv6 literal without its brackets.
    let host: String
    /// The explicit port, or the scheme's default.
    let port: Int

    /// `nil` unless `url` is http(s) with a host.
    init?(_ url: URL) {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false),
            let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            var host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
    }

    var description: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Whether a request here stays on this machine: `localhost`, or a loopback address literal.
    var isLoopback: Bool { Loopback.isLoopback(host: host) }
}

/// Loopback hosts, decided by parsing the address, never by its first characters
/// (`127.attacker.example` is a name anyone can register).
enum Loopback {
    /// `localhost`, an IPv4 literal in 127.0.0.0/8, or the IPv6 literal ::1 (brackets allowed).
    static func isLoopback(host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" { return true }
        if let address = ipv4(host) { return address[0] == 127 }
        if let address = ipv6(host) { return address == [0, 0, 0, 0, 0, 0, 0, 1] }
        return false
    }

    /// Four decimal parts of 0…255 without leading zeros: the only IPv4 form accepted.
    static func ipv4(_ text: some StringProtocol) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var address: [UInt8] = []
        for part in parts {
            let digits = Array(part.utf8)
            guard (1...3).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
                digits.count == 1 || digits[0] != 0x30, let value = UInt8(String(part))
            else { return nil }
            address.append(value)
        }
        return address
    }

    /// The eight 16-bit groups of an IPv6 literal (RFC 4291 §2.2: `::` once at most, an IPv4 tail allowed).
    static func ipv6(_ text: String) -> [UInt16]? {
        guard text.contains(":") else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, ipv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            var result: [UInt16] = []
            for (index, piece) in pieces.enumerated() {
                if ipv4Tail, index == pieces.count - 1, piece.contains(".") {
                    guard let v4 = ipv4(piece) else { return nil }
                    result += [UInt16(v4[0]) << 8 | UInt16(v4[1]), UInt16(v4[2]) << 8 | UInt16(v4[3])]
                    continue
                }
                let hex = piece.utf8.allSatisfy {
                    (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0)
                }
                guard (1...4).contains(piece.utf8.count), hex, let value = UInt16(piece, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        if halves.count == 2 {
            guard let head = groups(halves[0], ipv4Tail: false), let tail = groups(halves[1], ipv4Tail: true),
                head.count + tail.count <= 7
            else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard let all = groups(halves[0], ipv4Tail: true), all.count == 8 else { return nil }
        return all
    }
}
