import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The deployment's secret (`PORTAL_SECRET`): at least 32 random bytes, written as hex or
/// base64. It encrypts the session JWT signing keys at rest; every instance shares it.
public struct PortalSecret: Sendable, Equatable {
    public let bytes: Data

    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // ASCII only: `isHexDigit` also accepts full-width digits, which `UInt8(radix:)` does not.
        if text.count.isMultiple(of: 2), text.allSatisfy({ $0.isASCII && $0.isHexDigit }) {
            var bytes = Data()
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
                bytes.append(byte)
                index = next
            }
            guard bytes.count >= 32 else { return nil }
            self.bytes = bytes
        } else if let bytes = Data(base64Encoded: text), bytes.count >= 32 {
            self.bytes = bytes
        } else {
            return nil
        }
    }

    init(bytes: Data) {
        self.bytes = bytes
    }

    /// The secret for this run: the configured one; else, beside a SQLite file, the one kept in
    /// `portal.secret` (created with mode 0600 on first start); else a random one for this process.
    static func resolve(_ config: PortalConfig) throws -> PortalSecret {
        if let secret = config.portalSecret { return secret }
        guard case .sqliteFile(let path) = config.database else { return PortalSecret(bytes: randomBytes()) }
        let file = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("portal.secret").path
        let candidate = PortalSecret(bytes: randomBytes())
        // Created exclusively and 0600 from the first byte: of processes starting together one
        // writes it and the others read it; an existing file is never replaced.
        let descriptor = open(file, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if descriptor >= 0 {
            let hex = Array((OpaqueSecret.lowercaseHex(candidate.bytes) + "\n").utf8)
            let written = hex.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
            guard written == hex.count else { throw SecretFileError(path: file) }
            return candidate
        }
        guard errno == EEXIST else { throw SecretFileError(path: file) }
        // A moment for a process that created it to finish writing.
        for _ in 0..<50 {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), !text.isEmpty {
                guard let secret = PortalSecret(text) else { break }
                return secret
            }
            usleep(20_000)
        }
        throw ConfigurationError(
            variable: "PORTAL_SECRET",
            value: "(from \(file))",
            expected: "the file to hold at least 32 bytes as hex"
        )
    }

    private static func randomBytes() -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

struct SecretFileError: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "Cannot create \(path) for the portal's secret: set PORTAL_SECRET, or let the database's folder be written."
    }
}
