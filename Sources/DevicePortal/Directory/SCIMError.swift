import Vapor

/// An error in SCIM's own shape (RFC 7644 §3.12): `schemas`, `status` as a string, `scimType`
/// where the RFC names one, and `detail`. Every 4xx of `/scim/v2/` answers this way.
struct SCIMError: AbortError {
    static let schema = "urn:ietf:params:scim:api:messages:2.0:Error"

    let status: HTTPResponseStatus
    let scimType: String?
    let detail: String
    var headers: HTTPHeaders = [:]

    var reason: String { detail }

    static func invalidFilter(_ detail: String) -> SCIMError {
        .init(status: .badRequest, scimType: "invalidFilter", detail: detail)
    }
    static func invalidSyntax(_ detail: String) -> SCIMError {
        .init(status: .badRequest, scimType: "invalidSyntax", detail: detail)
    }
    static func invalidPath(_ detail: String) -> SCIMError {
        .init(status: .badRequest, scimType: "invalidPath", detail: detail)
    }
    static func invalidValue(_ detail: String) -> SCIMError {
        .init(status: .badRequest, scimType: "invalidValue", detail: detail)
    }
    static func noTarget(_ detail: String) -> SCIMError {
        .init(status: .badRequest, scimType: "noTarget", detail: detail)
    }
    static func mutability(_ detail: String) -> SCIMError {
        .init(status: .badRequest, scimType: "mutability", detail: detail)
    }
    static func uniqueness(_ detail: String) -> SCIMError {
        .init(status: .conflict, scimType: "uniqueness", detail: detail)
    }
    static func notFound(_ detail: String) -> SCIMError { .init(status: .notFound, scimType: nil, detail: detail) }

    /// RFC 6750 §3.1, as the API's guard: no credential gets a bare challenge.
    static let missingToken = SCIMError(
        status: .unauthorized,
        scimType: nil,
        detail: "SCIM needs a directory token: Authorization: Bearer <directory token>.",
        headers: ["WWW-Authenticate": #"Bearer realm="SCIM""#]
    )

    static func invalidToken(_ detail: String) -> SCIMError {
        SCIMError(
            status: .unauthorized,
            scimType: nil,
            detail: detail,
            headers: ["WWW-Authenticate": #"Bearer realm="SCIM", error="invalid_token""#]
        )
    }

    func response() -> Response {
        var body: [String: SCIMValue] = [
            "schemas": .array([.string(Self.schema)]),
            "status": .string(String(status.code)),
            "detail": .string(detail),
        ]
        if let scimType { body["scimType"] = .string(scimType) }
        return SCIMResponse.make(.object(body), status: status, headers: headers)
    }
}

/// Answers of `/scim/v2/`: `application/scim+json` (RFC 7644 §3.1), never cached.
enum SCIMResponse {
    static let contentType = "application/scim+json; charset=utf-8"

    static func make(_ body: SCIMValue, status: HTTPResponseStatus = .ok, headers: HTTPHeaders = [:]) -> Response {
        var headers = headers
        headers.replaceOrAdd(name: .contentType, value: contentType)
        headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(data: data))
    }
}
