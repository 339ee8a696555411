import Vapor

/// Refuses a request whose path or query, percent-decoded, is not UTF-8 or holds a control
/// character (NUL, a line break…): no route takes such text, and it must reach neither the
/// database nor a log line. Answered 400 in the route's own shape (JSON or a page).
struct RequestTargetMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        if let problem = Self.problem(path: request.url.path, query: request.url.query) {
            return request.eventLoop.makeFailedFuture(PageError.badRequest(problem))
        }
        return next.respond(to: request)
    }

    /// What is wrong with a request target, or `nil` when nothing is.
    static func problem(path: String, query: String?) -> String? {
        guard acceptable(path.utf8[...], plusIsSpace: false) else {
            return "The address holds characters that no page of this portal takes."
        }
        guard let query else { return nil }
        for pair in query.utf8.split(separator: UInt8(ascii: "&")) {
            guard acceptable(pair, plusIsSpace: true) else {
                return "The query holds characters that no page of this portal takes."
            }
        }
        return nil
    }

    private static func acceptable(_ text: Substring.UTF8View, plusIsSpace: Bool) -> Bool {
        guard let decoded = PercentDecoding.decode(text, plusIsSpace: plusIsSpace) else { return false }
        return !decoded.containsControlCharacters
    }
}
