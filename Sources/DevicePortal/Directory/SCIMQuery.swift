import Vapor

/// A query parameter of a SCIM request, read from the query string itself: given once, as
/// `name=value`. `filter[]=…` or two filters would otherwise be silently ignored, or one chosen.
enum SCIMQuery {
    static func parameter(_ req: Request, _ name: String) throws -> String? {
        var found: [String] = []
        for pair in (req.url.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = PercentDecoding.decode(parts[0].utf8, plusIsSpace: true) else { continue }
            if key == name {
                found.append(parts.count > 1 ? PercentDecoding.decode(parts[1].utf8, plusIsSpace: true) ?? "" : "")
            } else if key.hasPrefix(name + "[") || key.hasPrefix(name + ".") {
                throw invalid(name)
            }
        }
        guard found.count <= 1 else { throw invalid(name) }
        return found.first
    }

    private static func invalid(_ name: String) -> SCIMError {
        let detail = "The query parameter \(name) is given once, as \(name)=value."
        return name == "filter" ? .invalidFilter(detail) : .invalidValue(detail)
    }
}
