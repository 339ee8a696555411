import Vapor

/// An error answered as JSON in the RFC 6749 §5.2 shape, `{"error", "error_description"}`:
/// the OAuth endpoints, the guard and the JSON API all answer this way.
struct JSONError: AbortError {
    let status: HTTPResponseStatus
    let error: String
    let description: String
    var headers: HTTPHeaders = [:]

    var reason: String { description }

    static func invalidRequest(_ description: String) -> JSONError {
        JSONError(status: .badRequest, error: "invalid_request", description: description)
    }

    static func invalidClient(_ description: String) -> JSONError {
        JSONError(status: .unauthorized, error: "invalid_client", description: description)
    }

    static func invalidGrant(_ description: String) -> JSONError {
        JSONError(status: .badRequest, error: "invalid_grant", description: description)
    }

    /// RFC 8628 §3.5 answers, all 400.
    static func deviceFlow(_ error: String, _ description: String) -> JSONError {
        JSONError(status: .badRequest, error: error, description: description)
    }

    /// RFC 6750 §3.1: a request without credentials gets a bare challenge, no error code.
    static let missingCredential = JSONError(
        status: .unauthorized,
        error: "unauthorized",
        description: "This route needs a credential: Authorization: Bearer <API token or session JWT>.",
        headers: ["WWW-Authenticate": "Bearer"]
    )

    static func invalidToken(_ description: String) -> JSONError {
        JSONError(
            status: .unauthorized,
            error: "invalid_token",
            description: description,
            headers: ["WWW-Authenticate": #"Bearer error="invalid_token""#]
        )
    }

    static func insufficientScope(_ permission: Permission) -> JSONError {
        JSONError(
            status: .forbidden,
            error: "insufficient_scope",
            description: "Your role in this organization lacks the permission \(permission.rawValue).",
            headers: ["WWW-Authenticate": #"Bearer error="insufficient_scope", scope="\#(permission.rawValue)""#]
        )
    }

    /// Written by hand: a pending poll answers with this on every request.
    func response() -> Response {
        var headers = headers
        headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        var json = JSONWriter()
        json.object { json in
            json.field("error", error)
            json.field("error_description", description)
        }
        return json.response(status: status, headers: headers)
    }
}
