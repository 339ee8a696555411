import Vapor

extension Request {
    /// Decodes an OAuth endpoint's form-encoded parameters. Unknown parameters are ignored
    /// (RFC 6749 §3.2); a body that is not a form is an `invalid_request`.
    func oauthForm<Form: Decodable>(_ type: Form.Type) throws -> Form {
        guard headers.contentType == .urlEncodedForm else {
            throw JSONError.invalidRequest("The body must be application/x-www-form-urlencoded.")
        }
        do {
            return try content.decode(Form.self)
        } catch {
            throw JSONError.invalidRequest("The form parameters could not be read.")
        }
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
