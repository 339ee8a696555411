/// Rules for text that came from outside, whatever route it came through.
extension StringProtocol {
    /// At most `limit` characters, counted as Unicode scalars, and at most four bytes each.
    /// Counting `Character`s bounds nothing: one grapheme can carry any number of combining marks.
    func fits(_ limit: Int) -> Bool {
        utf8.count <= 4 * limit && unicodeScalars.count <= limit
    }

    /// NUL, which PostgreSQL cannot store in text and C libraries take for the end of a string.
    var containsNUL: Bool { utf8.contains(0) }

    /// C0 controls (line breaks and tabs included), DEL and C1 controls.
    var containsControlCharacters: Bool {
        unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
    }
}

extension String {
    /// The first `limit` Unicode scalars, for text that is stored or logged cut to a length.
    func clipped(to limit: Int) -> String {
        String(String.UnicodeScalarView(unicodeScalars.prefix(limit)))
    }
}

/// Percent-decoding on bytes, as `application/x-www-form-urlencoded` and URLs define it.
enum PercentDecoding {
    /// `%XX` as that byte (and `+` as a space when `plusIsSpace`); `nil` for a broken escape or
    /// a result that is not UTF-8.
    static func decode(_ text: Substring.UTF8View, plusIsSpace: Bool) -> String? {
        guard text.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(Substring(text))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            switch byte {
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let high = text.index(after: index)
                guard high < text.endIndex, text.index(after: high) < text.endIndex,
                    let h = hexValue(text[high]), let l = hexValue(text[text.index(after: high)])
                else { return nil }
                bytes.append(h << 4 | l)
                index = text.index(after: high)
            default:
                bytes.append(byte)
            }
            index = text.index(after: index)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
