import Foundation

/// The encodings a message needs: RFC 2047 encoded words for headers, quoted-printable
/// (RFC 2045 §6.7) for bodies.
enum MIMEEncoding {
    /// A header's text as is when it is printable ASCII, else as `=?UTF-8?B?…?=` words of at
    /// most 75 characters, folded onto lines of their own; a character is never split.
    static func headerText(_ text: String) -> String {
        guard text.utf8.allSatisfy({ (32...126).contains($0) }) else { return encodedWords(text) }
        return text
    }

    /// A display name: a quoted string when ASCII, encoded words otherwise.
    static func phrase(_ text: String) -> String {
        guard text.utf8.allSatisfy({ (32...126).contains($0) }) else { return encodedWords(text) }
        let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }

    private static func encodedWords(_ text: String) -> String {
        // 75 characters less `=?UTF-8?B?` and `?=` leave 63, which base64 fills with 45 bytes.
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append(word(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append(word(chunk)) }
        return words.joined(separator: "\r\n ")
    }

    private static func word(_ bytes: [UInt8]) -> String {
        "=?UTF-8?B?\(Data(bytes).base64EncodedString())?="
    }

    /// Quoted-printable, lines of at most 76 characters, line breaks as CRLF.
    static func quotedPrintable(_ text: String) -> String {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false)
        return lines.map { quotedPrintableLine(Array($0.utf8)) }.joined(separator: "\r\n")
    }

    private static func quotedPrintableLine(_ bytes: [UInt8]) -> String {
        var out = ""
        var length = 0
        for (index, byte) in bytes.enumerated() {
            let isLast = index == bytes.count - 1
            let literal = (33...126).contains(byte) && byte != UInt8(ascii: "=") || (byte == 32 || byte == 9) && !isLast
            let token = literal ? String(UnicodeScalar(byte)) : String(format: "=%02X", byte)
            // One place kept for the `=` of a soft line break.
            if length + token.count > 75 {
                out += "=\r\n"
                length = 0
            }
            out += token
            length += token.count
        }
        return out
    }
}
