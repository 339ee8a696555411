import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Every way a call of `PortalClient` can fail, besides `CancellationError` when the calling
/// task is cancelled. Text that came from the server (descriptions, excerpts, addresses) is
/// already made safe to print with `ServerText.singleLine`.
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
    /// The authorization server metadata (RFC 8414) is missing, malformed, names another issuer,
    /// or names an endpoint outside the server's origin.
    case discovery(String)
    /// The server answered with a redirect (3xx), to `location` when it named one. The client
    /// follows none: the request, token and all, went nowhere else.
    case redirected(status: Int, location: String?)
    /// Plain http to a host that is not this machine, refused before anything was sent: the token
    /// would cross the network unencrypted. `PortalClient(allowsInsecureHTTP: true)` accepts it.
    case insecureTransport(URL)
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
        case .redirected(let status, let location):
            "The server answered HTTP \(status) with a redirect to \(location ?? "(no Location)"), "
                + "which the client does not follow: nothing was sent there."
        case .insecureTransport(let url):
            "\(ServerText.singleLine(url.absoluteString)) is plain http to another machine: the token would "
                + "cross the network unencrypted. Use https."
        }
    }
}
