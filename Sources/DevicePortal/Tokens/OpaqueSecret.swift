import Crypto
import Foundation

/// Random secrets handed out once (API tokens, device codes, session cookies) and the
/// one-way hash under which they are stored: the database never holds the secret itself.
enum OpaqueSecret {
    /// 32 bytes from the system's cryptographically secure generator, as 64 lowercase hex digits.
    static func hex() -> String {
        lowercaseHex(randomBytes(32))
    }

    /// 32 random bytes as unpadded base64url (43 characters): looks nothing like an API token.
    static func base64URL() -> String {
        Data(randomBytes(32)).base64URLEncoded
    }

    /// SHA-256 as lowercase hex. Fine for high-entropy secrets; never for passwords.
    static func hash(_ secret: String) -> String {
        lowercaseHex(SHA256.hash(data: Data(secret.utf8)))
    }

    /// Bytes as lowercase hex. On the guard's and the poll's path: `String(format:)` cost 7–8%
    /// of their CPU, this a fraction of it.
    static func lowercaseHex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var characters: [UInt8] = []
        characters.reserveCapacity(64)
        for byte in bytes {
            characters.append(digits[Int(byte >> 4)])
            characters.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Whether `value` has the API token's shape: 64 lowercase hex digits.
    static func isAPITokenShaped(_ value: some StringProtocol) -> Bool {
        value.utf8.count == 64 && value.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Compares without an early exit, so timing tells nothing about where two values differ.
    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}

extension Data {
    /// Unpadded base64url (RFC 4648 §5), as JWTs and JWKs use.
    var base64URLEncoded: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init?(base64URLEncoded text: some StringProtocol) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }
}
