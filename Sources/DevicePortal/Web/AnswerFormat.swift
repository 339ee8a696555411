import Vapor

/// How a route answers, errors included: JSON (the API, the OAuth endpoints, operations) or a
/// page for people. `routes.swift` declares it with the routes (`answering(_:)`); the error
/// middleware reads it, and `portal routes` prints it (Vapor's command shows a route's
/// `description`), so the tests read it there too.
enum AnswerFormat: String, Sendable {
    case json = "JSON"
    case page
    /// `/scim/v2/`: `application/scim+json`, errors in SCIM's shape (RFC 7644 §3.12).
    case scim = "SCIM"

    /// The request's route's format; for a path no route matches (a 404 or 405), the format of
    /// the routes that share the most leading segments with it (`/api/nothing` is the API's),
    /// and a page when pages are among them: a person may have typed it.
    static func of(_ request: Request) -> AnswerFormat {
        if let route = request.route { return of(route) }
        let segments = request.url.path.split(separator: "/").map(String.init)
        let routes = request.application.routes.all
        let most = routes.map { sharedSegments($0, segments) }.max() ?? 0
        guard most > 0 else { return .page }
        let closest = routes.filter { sharedSegments($0, segments) == most }
        let formats = Set(closest.map { of($0) })
        return formats.count == 1 ? formats.first ?? .page : .page
    }

    static func of(_ route: Route) -> AnswerFormat {
        route.userInfo[key] as? AnswerFormat ?? .page
    }

    private static func sharedSegments(_ route: Route, _ segments: [String]) -> Int {
        var shared = 0
        for (component, segment) in zip(route.path, segments) {
            switch component {
            case .constant(let constant) where constant == segment: shared += 1
            case .parameter, .anything: shared += 1
            default: return shared
            }
        }
        return shared
    }

    fileprivate static let key: AnySendableHashable = "answer.format"
}

extension RoutesBuilder {
    /// Routes declared through the result answer in `format`, unless a builder nearer to them says otherwise.
    func answering(_ format: AnswerFormat) -> some RoutesBuilder {
        FormatMarkingRoutes(base: self, format: format)
    }
}

private struct FormatMarkingRoutes: RoutesBuilder {
    let base: any RoutesBuilder
    let format: AnswerFormat

    func add(_ route: Route) {
        if route.userInfo[AnswerFormat.key] == nil {
            route.userInfo[AnswerFormat.key] = format
            route.userInfo["description"] = "answers \(format.rawValue)"
        }
        base.add(route)
    }
}
