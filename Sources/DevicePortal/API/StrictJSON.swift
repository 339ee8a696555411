import Vapor

/// A JSON body of the management API whose fields are exactly the declared ones.
protocol StrictJSONBody: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
}

/// The largest JSON body the API reads; no valid request comes near it.
let maxJSONBodyBytes = 16_384

extension Request {
    /// Decodes the body the way the API promises: wrong content type 415, malformed JSON or
    /// wrong types 400, unknown or missing fields 422 (too large is 413 before this runs).
    func strictJSON<Body: StrictJSONBody>(_ type: Body.Type) async throws -> Body {
        guard headers.contentType == .json else {
            throw AdminError(status: .unsupportedMediaType, reason: "The body must be application/json.")
        }
        let data = try await body.collect(max: maxJSONBodyBytes).get().map { Data($0.readableBytesView) } ?? Data()
        guard data.count <= maxJSONBodyBytes else {
            throw AdminError(status: .payloadTooLarge, reason: "The body is larger than \(maxJSONBodyBytes) bytes.")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AdminError(status: .badRequest, reason: "The body is not a JSON object.")
        }
        guard !Self.holdsNUL(object) else {
            throw AdminError(status: .badRequest, reason: "The body holds a NUL character, which no field takes.")
        }
        let known = Set(Body.CodingKeys.allCases.map(\.stringValue))
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw AdminError.invalid(
                "Unknown field \"\(unknown)\". Known fields: \(known.sorted().joined(separator: ", "))."
            )
        }
        do {
            return try JSONDecoder().decode(Body.self, from: data)
        } catch DecodingError.keyNotFound(let key, _) {
            throw AdminError.invalid("Missing field \"\(key.stringValue)\".")
        } catch DecodingError.valueNotFound(_, let context), DecodingError.typeMismatch(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw AdminError(status: .badRequest, reason: "Field \"\(field)\" has the wrong type.")
        } catch {
            throw AdminError(status: .badRequest, reason: "The body could not be read.")
        }
    }

    /// Whether any key or string of a parsed JSON value holds NUL.
    private static func holdsNUL(_ value: Any) -> Bool {
        switch value {
        case let text as String: text.containsNUL
        case let object as [String: Any]: object.contains { $0.key.containsNUL || holdsNUL($0.value) }
        case let array as [Any]: array.contains(where: holdsNUL)
        default: false
        }
    }
}
