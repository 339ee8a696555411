import Vapor

/// An OAuth endpoint's `application/x-www-form-urlencoded` parameters.
///
/// Read by hand rather than with Vapor's `URLEncodedFormDecoder`, which cost 12% of a poll's CPU
/// (its tree of nested keys, the `Content-Type` directives parser and `Codable`). The body is split
/// on the bytes `&` and `=` (as every proxy splits it; splitting a `String` would keep `&` and a
/// combining mark after it together), names and values are percent-decoded, `+` is a space, `[`
/// and `]` are ordinary characters of a name; unknown parameters are ignored (RFC 6749 §3.2), and a
/// parameter that is read must not be given more than once (RFC 6749 §3.1). Text with NUL is refused.
struct OAuthForm {
    private let pairs: [(name: String, value: Substring.UTF8View)]

    /// Fails when a name is not valid percent-encoded UTF-8 or holds NUL.
    init?(_ body: String) {
        var pairs: [(name: String, value: Substring.UTF8View)] = []
        for pair in body.utf8.split(separator: UInt8(ascii: "&")) {
            // A part without "=" names no parameter (Vapor's decoder kept it apart, too).
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else { continue }
            guard let name = Self.decoded(pair[..<equals]) else { return nil }
            pairs.append((name, pair[pair.index(after: equals)...]))
        }
        self.pairs = pairs
    }

    /// The parameter's value, decoded; `nil` when absent. A repeated parameter, or a value that
    /// is not valid percent-encoded UTF-8 or holds NUL, is an `invalid_request`.
    subscript(name: String) -> String? {
        get throws {
            var found: Substring.UTF8View?
            for pair in pairs where pair.name == name {
                guard found == nil else { throw JSONError.invalidRequest("Parameter \(name) is given more than once.") }
                found = pair.value
            }
            guard let raw = found else { return nil }
            guard let value = Self.decoded(raw) else {
                throw JSONError.invalidRequest("Parameter \(name) is not valid percent-encoded UTF-8 text.")
            }
            return value
        }
    }

    /// `+` as a space, `%XX` as that byte; the result must be UTF-8 without NUL.
    static func decoded(_ text: Substring.UTF8View) -> String? {
        guard let decoded = PercentDecoding.decode(text, plusIsSpace: true), !decoded.containsNUL else { return nil }
        return decoded
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

/// Checks one form parameter: present, not empty, not longer than `maxLength` (in scalars and bytes).
func requiredParameter(_ value: String?, _ name: String, maxLength: Int = 512) throws -> String {
    guard let value, !value.isEmpty else { throw JSONError.invalidRequest("Missing parameter \(name).") }
    guard value.fits(maxLength) else {
        throw JSONError.invalidRequest("Parameter \(name) is longer than \(maxLength) characters.")
    }
    return value
}
