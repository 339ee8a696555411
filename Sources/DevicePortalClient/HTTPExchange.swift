import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One request and its answer, with URLSession's failures turned into `PortalClientError`
/// (or `CancellationError` when the calling task was cancelled).
struct HTTPExchange: Sendable {
    let session: URLSession
    /// Seconds before a request without an answer counts as a network failure.
    var timeout: TimeInterval = 30

    struct Answer {
        let status: Int
        let headers: [AnyHashable: Any]
        let body: Data

        /// The RFC 6749 §5.2 error code and description, when the body has that shape.
        var oauthError: (error: String, description: String?)? {
            guard let body = try? JSONDecoder().decode(OAuthErrorBody.self, from: body) else { return nil }
            return (body.error, body.errorDescription)
        }

        /// A short, printable piece of the body for error messages.
        var excerpt: String {
            let text = String(decoding: body.prefix(200), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ")
            return text.isEmpty ? "(empty body)" : text
        }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            do {
                return try JSONDecoder().decode(type, from: body)
            } catch {
                throw PortalClientError.unexpectedResponse(status: status, detail: "unreadable JSON: \(excerpt)")
            }
        }

        /// A `Retry-After` given in seconds.
        var retryAfter: Int? {
            for (name, value) in headers where (name as? String)?.lowercased() == "retry-after" {
                return (value as? String).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            }
            return nil
        }
    }

    struct OAuthErrorBody: Decodable {
        let error: String
        let errorDescription: String?

        enum CodingKeys: String, CodingKey {
            case error
            case errorDescription = "error_description"
        }
    }

    func get(_ url: URL, bearer token: AccessToken? = nil) async throws -> Answer {
        var request = URLRequest(url: url)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let token { request.setValue(token.bearerHeader, forHTTPHeaderField: "Authorization") }
        return try await send(request)
    }

    /// A form-encoded POST, as OAuth endpoints take them.
    func postForm(_ url: URL, _ fields: [(String, String)]) async throws -> Answer {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.httpBody = Data(Self.formEncoded(fields).utf8)
        return try await send(request)
    }

    private func send(_ request: URLRequest) async throws -> Answer {
        var request = request
        request.timeoutInterval = timeout
        // Never start a request for a task that is already cancelled.
        try Task.checkCancellation()
        let (body, response) = try await InFlight.load(request, with: session)
        guard let http = response as? HTTPURLResponse else {
            throw PortalClientError.unexpectedResponse(status: 0, detail: "not an HTTP response")
        }
        return Answer(status: http.statusCode, headers: http.allHeaderFields, body: body)
    }

    /// `application/x-www-form-urlencoded`, every byte but the unreserved ones escaped.
    static func formEncoded(_ fields: [(String, String)]) -> String {
        var unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        unreserved.insert(charactersIn: "-._~")
        return fields.map { name, value in
            let name = name.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
            let value = value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
            return "\(name)=\(value)"
        }.joined(separator: "&")
    }
}
