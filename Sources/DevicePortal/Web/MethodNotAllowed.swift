import Vapor

/// RFC 9110 §15.5.6: a path the portal answers, asked with a method it does not answer there,
/// gets 405 with `Allow`, not 404. Looked up only when the router found no route.
enum MethodNotAllowed {
    /// The methods the portal answers at this request's path; empty when it answers none.
    static func allowedMethods(for request: Request) -> [String] {
        let segments = request.url.path.split(separator: "/").map(String.init)
        var methods = Set(
            request.application.routes.all.filter { matches($0.path, segments) }.map(\.method.rawValue)
        )
        if methods.contains("GET") { methods.insert("HEAD") }  // Vapor answers HEAD with the GET route
        return methods.sorted()
    }

    private static func matches(_ pattern: [PathComponent], _ segments: [String]) -> Bool {
        for (index, component) in pattern.enumerated() {
            if case .catchall = component { return segments.count > index }
            guard index < segments.count else { return false }
            if case .constant(let constant) = component, constant != segments[index] { return false }
        }
        return pattern.count == segments.count
    }
}
