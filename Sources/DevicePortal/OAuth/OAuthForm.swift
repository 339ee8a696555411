import Vapor

/// An OAuth endpoint's `application/x-www-form-urlencoded` parameters.
///
/// Read by hand rather than with Vapor's `URLEncodedFormDecoder`, which cost 12% of a poll's CPU
/// (its tree of nested keys, the `Content-Type` directives parser and `Codable`). Names and values
/// are percent-decoded, `+` is a space, `[` and `]` are ordinary characters of a name; unknown
/// parameters are ignored (RFC 6749 §3.2), and a parameter that is read must not be given more
/// than once (RFC 6749 §3.1).
struct OAuthForm {
    private let pairs: [(name: String, value: Substring)]

    /// Fails when a name is not valid percent-encoded UTF-8.
    init?(_ body: String) {
        var pairs: [(name: String, value: Substring)] = []
        for pair in body.split(separator: "&") {
            // A part without "=" names no parameter (Vapor's decoder kept it apart, too).
            guard let equals = pair.firstIndex(of: "=") else { continue }
            guard let name = Self.decoded(pair[..<equals]) else { return nil }
            pairs.append((name, pair[pair.index(after: equals)...]))
        }
        self.pairs = pairs
    }

    /// The parameter's value, decoded; `nil` when absent. A repeated parameter, or a value that
    /// is not valid percent-encoded UTF-8, is an `invalid_request`.
    subscript(name: String) -> String? {
        get throws {
            var found: Substring?
            for pair in pairs where pair.name == name {
                guard found == nil else { throw JSONError.invalidRequest("Parameter \(name) is given more than once.") }
                found = pair.value
            }
            guard let raw = found else { return nil }
            guard let value = Self.decoded(raw) else {
                throw JSONError.invalidRequest("The form parameters could not be read.")
            }
            return value
        }
    }

    /// `+` as a space, `%XX` as that byte; the result must be UTF-8.
    static func decoded(_ text: Substring) -> String? {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index < utf8.endIndex {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let high = utf8.index(after: index)
                guard high < utf8.endIndex, utf8.index(after: high) < utf8.endIndex,
                    let h = hexValue(utf8[high]), let l = hexValue(utf8[utf8.index(after: high)])
                else { return nil }
                bytes.append(h << 4 | l)
                index = utf8.index(after: high)
            default:
                bytes.append(byte)
            }
            index = utf8.index(after: index)
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

    /// Whether a `Content-Type` value is a form, as `HTTPMediaType`'s `==` decides (type and
    /// subtype without case, parameters ignored, `*` matching anything) without parsing the
    /// header's directives on every request.
    static func isForm(contentType: String) -> Bool {
        let mediaType = contentType.prefix { $0 != ";" }
        let parts = mediaType.split(separator: "/")
        guard parts.count == 2 else { return false }
        let type = parts[0].trimmingCharacters(in: .whitespaces)
        let subtype = parts[1].trimmingCharacters(in: .whitespaces)
        if type == "*" { return true }
        guard type.lowercased() == "application" else { return false }
        return subtype == "*" || subtype.lowercased() == "x-www-form-urlencoded"
    }
}

extension Request {
    /// An OAuth endpoint's form-encoded parameters; a body that is not a form is an
    /// `invalid_request`.
    func oauthForm() throws -> OAuthForm {
        guard let contentType = headers.first(name: .contentType), OAuthForm.isForm(contentType: contentType) else {
            throw JSONError.invalidRequest("The body must be application/x-www-form-urlencoded.")
        }
        guard let body = body.string, let form = OAuthForm(body) else {
            throw JSONError.invalidRequest("The form parameters could not be read.")
        }
        return form
    }
}

/// Checks one form parameter: present, not empty, not longer than `maxLength`.
func requiredParameter(_ value: String?, _ name: String, maxLength: Int = 512) throws -> String {
    guard let value, !value.isEmpty else { throw JSONError.invalidRequest("Missing parameter \(name).") }
    guard value.count <= maxLength else {
        throw JSONError.invalidRequest("Parameter \(name) is longer than \(maxLength) characters.")
    }
    return value
}
