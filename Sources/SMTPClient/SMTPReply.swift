/// One reply of the server: a three-digit code and its lines (RFC 5321 §4.2).
public struct SMTPReply: Sendable, Equatable, CustomStringConvertible {
    public let code: Int
    public let lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    public var description: String { "\(code) \(lines.joined(separator: " / "))" }
}

/// Gathers lines into replies: `250-first`, `250-second`, `250 last` make one reply.
struct SMTPReplyParser {
    /// A server sending more lines than this in one reply is not one to talk to.
    static let maximumLines = 200
    private var code: Int?
    private var lines: [String] = []

    /// The finished reply when `line` ends one; throws on a line that is not a reply line.
    mutating func feed(_ line: String) throws -> SMTPReply? {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ (0x30...0x39).contains($0) }),
            bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-"),
            let lineCode = Int(String(decoding: bytes[0...2], as: UTF8.self)), (200...599).contains(lineCode)
        else { throw SMTPError.unexpectedReply(line, during: .message) }
        if let code, code != lineCode { throw SMTPError.unexpectedReply(line, during: .message) }
        code = lineCode
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        guard lines.count <= Self.maximumLines else { throw SMTPError.unexpectedReply(line, during: .message) }
        guard bytes.count == 3 || bytes[3] == UInt8(ascii: " ") else { return nil }
        defer {
            self.code = nil
            lines = []
        }
        return SMTPReply(code: lineCode, lines: lines)
    }
}
