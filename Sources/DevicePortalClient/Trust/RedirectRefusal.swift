import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Every request's task delegate: a redirect is never followed. URLSession would otherwise send
/// the request again, `Authorization` header and form fields included, wherever a `Location`
/// points, and the answer of that other server would count as the portal's. The 3xx itself
/// becomes the answer, which `HTTPExchange` turns into `PortalClientError.redirected`.
///
/// A task delegate works with the completion-handler tasks that `InFlight` makes, on Apple
/// platforms (macOS 12 and later) and in FoundationNetworking alike, whatever session the caller gave.
final class RedirectRefusal: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    static let shared = RedirectRefusal()

    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
