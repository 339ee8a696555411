import NIOCore
import Vapor

/// The portal's only outbound HTTP: an identity provider's discovery document, keys and token
/// endpoint, through Vapor's client (AsyncHTTPClient). Every call has a deadline, follows no
/// redirect (`configure` turns them off) and reads at most `maxBody` bytes (`BoundedHTTPClient`).
enum ProviderFetch {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let timeout: TimeAmount = .seconds(5)
    static let maxBody = 512 * 1024

    static func json<T: Decodable>(
        _ type: T.Type,
        get url: String,
        client: any Client
    ) async throws -> T {
        let response = try await send(client) { request in
            request.method = .GET
            request.url = URI(string: url)
            request.headers.replaceOrAdd(name: .accept, value: "application/json")
        }
        guard response.status == .ok else { throw Failure(description: "GET \(url) answered \(response.status.code)") }
        return try decode(type, response, from: url)
    }

    /// A form POST (the token endpoint); any status comes back for the caller to read.
    static func postForm(
        _ url: String,
        fields: [(String, String)],
        headers: HTTPHeaders,
        client: any Client
    ) async throws -> ClientResponse {
        try await send(client) { request in
            request.method = .POST
            request.url = URI(string: url)
            request.headers = headers
            request.headers.replaceOrAdd(name: .accept, value: "application/json")
            request.headers.replaceOrAdd(name: .contentType, value: "application/x-www-form-urlencoded")
            request.body = ByteBuffer(string: FormEncoding.encode(fields))
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ response: ClientResponse, from url: String) throws -> T {
        guard let body = response.body, body.readableBytes <= maxBody else {
            throw Failure(description: "\(url) sent no body or more than \(maxBody) bytes")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(buffer: body))
        } catch {
            throw Failure(description: "\(url) sent JSON that is not what was expected")
        }
    }

    private static func send(
        _ client: any Client,
        _ build: (inout ClientRequest) -> Void
    ) async throws -> ClientResponse {
        var request = ClientRequest()
        build(&request)
        request.timeout = timeout
        do {
            return try await client.send(request).get()
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(request.method) \(request.url) failed: \(error)")
        }
    }
}

/// `application/x-www-form-urlencoded` (the WHATWG rules: only unreserved characters stay as they are).
enum FormEncoding {
    private static let unreserved = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    )

    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
