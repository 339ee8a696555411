/// The DATA section as it goes over the wire (RFC 5321 §4.5.2): every line break CRLF
/// (a lone CR or LF too), a "." doubled at the start of a line, then the closing ".".
enum SMTPData {
    static func encode(_ message: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.utf8.count + 64)
        var atLineStart = true
        var previousWasCR = false
        for byte in message.utf8 {
            switch byte {
            case UInt8(ascii: "\r"):
                out += [13, 10]
                atLineStart = true
                previousWasCR = true
                continue
            case UInt8(ascii: "\n"):
                if !previousWasCR { out += [13, 10] }
                atLineStart = true
            default:
                if atLineStart && byte == UInt8(ascii: ".") { out.append(byte) }
                out.append(byte)
                atLineStart = false
            }
            previousWasCR = false
        }
        if !atLineStart { out += [13, 10] }
        return out + Array(".\r\n".utf8)
    }
}
