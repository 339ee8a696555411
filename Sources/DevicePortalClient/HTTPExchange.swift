import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One request and its answer, with URLSession's failures turned into `PortalClientError`
/// (or `CancellationError` when the calling task was cancelled). Nothing goes out over plain
/// http to another machine unless allowed, no redirect is followed, and only an answer from the
/// origin asked counts.
struct HTTPExchange: Sendable {
    let session: URLSession
    /// The `User-Agent` of every request, already a clean header value.
    let userAgent: String
    /// Plain http to hosts other than this machine.
    var allowsInsecureHTTP = false
    /// Seconds before a request without an answer counts as a network failure; a poll that asks
    /// the server to hold it (`Prefer: wait`) gets its wait on top.
    var timeout: TimeInterval = 30

    struct Answer {
        let status: Int
        let headers: [AnyHashable: Any]
        let body: Data

        /// The RFC 6749 §5.2 error code and description, when the body has that shape, safe to print.
        var oauthError: (error: String, description: String?)? {
            guard let body = try? JSONDecoder().decode(OAuthErrorBody.self, from: body) else { return nil }
            return (
                ServerText.singleLine(body.error, limit: 100), body.errorDescription.map { ServerText.singleLine($0) }
            )
        }

        /// A short piece of the body for error messages, on one line and safe to print.
        var excerpt: String {
            let text = ServerText.singleLine(String(decoding: body.prefix(200), as: UTF8.self))
            return text.isEmpty ? "(empty body)" : text
        }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            do {
                return try JSONDecoder().decode(type, from: body)
            } catch {
                throw PortalClientError.unexpectedResponse(status: status, detail: "unreadable JSON: \(excerpt)")
            }
        }

        /// A `Retry-After` given in seconds, at most `limit`.
        func retryAfter(atMost limit: Int) -> Int? {
            for (name, value) in headers where (name as? String)?.lowercased() == "retry-after" {
                guard let text = value as? String, let seconds = Int(text.trimmingCharacters(in: .whitespaces))
                else { return nil }
                return min(max(seconds, 0), limit)
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
        var request = baseRequest(url)
        if let token { request.setValue(token.bearerHeader, forHTTPHeaderField: "Authorization") }
        return try await send(request)
    }

    /// A form-encoded POST, as OAuth endpoints take them. With `wait` (seconds) it asks the
    /// server to hold the answer that long if it has nothing to say yet (RFC 7240 `Prefer: wait`),
    /// and waits for it that much longer than for any other answer.
    func postForm(_ url: URL, _ fields: [(String, String)], wait: Int? = nil) async throws -> Answer {
        var request = baseRequest(url)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(Self.formEncoded(fields).utf8)
        if let wait, wait > 0 {
            request.setValue("wait=\(wait)", forHTTPHeaderField: "Prefer")
            // The timeout counts time without a byte of the answer (a total time on Linux): a held
            // poll sends none until it is answered, so it must not count as a failure.
            request.timeoutInterval = timeout + TimeInterval(wait)
        }
        return try await send(request)
    }

    /// A request with the headers and timeout that every request has.
    private func baseRequest(_ url: URL) -> URLRequest {
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.setValue(userAgent, forHTTPHeaderField: "User-Agent")
        return request
    }

    private func send(_ request: URLRequest) async throws -> Answer {
        guard let url = request.url, let origin = Origin(url) else {
            throw PortalClientError.unexpectedResponse(status: 0, detail: "not an http(s) URL")
        }
        guard origin.scheme == "https" || origin.isLoopback || allowsInsecureHTTP else {
            throw PortalClientError.insecureTransport(url)
        }
        // Never start a request for a task that is already cancelled.
        try Task.checkCancellation()
        let (body, response) = try await InFlight.load(request, with: session)
        guard let http = response as? HTTPURLResponse else {
            throw PortalClientError.unexpectedResponse(status: 0, detail: "not an HTTP response")
        }
        if (300...399).contains(http.statusCode) {
            let location = http.value(forHTTPHeaderField: "Location").map {
                ServerText.singleLine(URL(string: $0, relativeTo: url)?.absoluteString ?? $0)
            }
            throw PortalClientError.redirected(status: http.statusCode, location: location)
        }
        // Only the origin asked may answer: a session that followed a redirect all the same is caught here.
        guard let answeredBy = http.url, Origin(answeredBy) == origin else {
            throw PortalClientError.redirected(
                status: http.statusCode,
                location: http.url.map { ServerText.singleLine($0.absoluteString) }
            )
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
