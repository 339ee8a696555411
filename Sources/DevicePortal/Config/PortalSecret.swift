import Foundation

/// The deployment's secret (`PORTAL_SECRET`): at least 32 random bytes, written as hex or
/// base64. It encrypts the session JWT signing keys at rest; every instance shares it.
public struct PortalSecret: Sendable, Equatable {
    public let bytes: Data

    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.count.isMultiple(of: 2), text.allSatisfy(\.isHexDigit) {
            var bytes = Data()
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                bytes.append(UInt8(text[index..<next], radix: 16)!)
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
        let file = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("portal.secret")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            guard let secret = PortalSecret(text) else {
                throw ConfigurationError(
                    variable: "PORTAL_SECRET", value: "(from \(file.path))",
                    expected: "the file to hold at least 32 bytes as hex")
            }
            return secret
        }
        let secret = PortalSecret(bytes: randomBytes())
        let hex = secret.bytes.map { String(format: "%02x", $0) }.joined() + "\n"
        guard
            FileManager.default.createFile(
                atPath: file.path, contents: Data(hex.utf8), attributes: [.posixPermissions: 0o600])
        else { throw SecretFileError(path: file.path) }
        return secret
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
