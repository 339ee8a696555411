/// A mailbox: an address of printable ASCII (no SMTPUTF8), and an optional display name.
/// Neither may hold CR, LF or any control character, so nothing can be smuggled into a header
/// or an SMTP command.
public struct MailAddress: Sendable, Equatable {
    public let address: String
    public let displayName: String?

    public init(_ address: String, displayName: String? = nil) throws {
        guard Self.isValid(address) else { throw MailError.invalidAddress(address) }
        if let displayName, displayName.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw MailError.invalidHeader("display name")
        }
        self.address = address
        self.displayName = displayName?.isEmpty == true ? nil : displayName
    }

    /// `ada@example.com` or `Ada Lovelace <ada@example.com>`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else {
            try self.init(trimmed)
            return
        }
        var name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
        if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
        let address = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
        try self.init(String(address), displayName: name)
    }

    /// RFC 5321's mailbox, kept to what every server takes: `local@domain`, at most 254 bytes.
    public static func isValid(_ address: String) -> Bool {
        let forbidden = Set("<>()[]\\,;:\"@ ".utf8)
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard address.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64,
            !parts[1].isEmpty, !parts[1].hasPrefix("."), !parts[1].hasSuffix(".")
        else { return false }
        return parts.allSatisfy { part in part.utf8.allSatisfy { (33...126).contains($0) && !forbidden.contains($0) } }
    }

    /// As it goes in a header: the name quoted (or RFC 2047-encoded when not ASCII), then `<address>`.
    var header: String {
        guard let displayName else { return address }
        return "\(MIMEEncoding.phrase(displayName)) <\(address)>"
    }
}

public enum MailError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidAddress(String)
    /// A header value holding CR, LF or another control character.
    case invalidHeader(String)

    public var description: String {
        switch self {
        case .invalidAddress(let address): "not a usable mail address: \(address.debugDescription)"
        case .invalidHeader(let name): "the \(name) holds a line break or a control character"
        }
    }
}
