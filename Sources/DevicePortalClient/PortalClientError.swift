import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Every way a call of `PortalClient` can fail, besides `CancellationError` when the calling
/// task is cancelled.
public enum PortalClientError: Error, Equatable, Sendable {
    /// The person denied the sign-in in the browser.
    case accessDenied
    /// The device code expired before anyone approved it; start a new sign-in.
    case expired
    /// The server knows no public client with this client id (RFC 6749 `invalid_client`).
    case invalidClient(description: String?)
    /// The token was refused: revoked, expired, or its user is no longer in its organization.
    case invalidToken
    /// The server could not be reached, or the connection failed.
    case network(URLError)
    /// Another OAuth error answer, such as `invalid_grant` or `invalid_request`.
    case oauth(status: Int, error: String, description: String?)
    /// An answer that is not what the protocol promises (an HTML error page, a 500, bad JSON).
    case unexpectedResponse(status: Int, detail: String)
    /// The authorization server metadata (RFC 8414) is missing, malformed, or names another issuer.
    case discovery(String)
}

extension PortalClientError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .accessDenied:
            "The sign-in was denied in the browser."
        case .expired:
            "The code expired before the sign-in was approved."
        case .invalidClient(let description):
            "The server does not accept this client id" + (description.map { ": \($0)" } ?? ".")
        case .invalidToken:
            "The token is no longer valid (revoked, expired, or its user left the organization)."
        case .network(let error):
            "Could not reach the server: \(error.localizedDescription)"
        case .oauth(let status, let error, let description):
            "The server refused the request (\(status) \(error))" + (description.map { ": \($0)" } ?? ".")
        case .unexpectedResponse(let status, let detail):
            "The server gave an unexpected answer (HTTP \(status)): \(detail)"
        case .discovery(let problem):
            "The server's OAuth metadata cannot be used: \(problem)"
        }
    }
}
