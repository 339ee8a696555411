import Foundation
import VaporTesting

/// The RFC 6749 §5.2 error body, `{"error", "error_description"}`, that the OAuth endpoints,
/// the guard and the JSON API answer with.
struct OAuthErrorBody: Decodable, Equatable {
    let error: String
    let errorDescription: String

    enum CodingKeys: String, CodingKey {
        case error
        case errorDescription = "error_description"
    }
}

extension TestingHTTPResponse {
    /// The body as an RFC 6749 error; a body of any other shape fails the test.
    var oauthErrorBody: OAuthErrorBody {
        get throws { try decoded(as: OAuthErrorBody.self) }
    }

    /// The `error` code of an RFC 6749 error body.
    var oauthError: String {
        get throws { try oauthErrorBody.error }
    }
}
