import Vapor

/// The outermost middleware: gives each request an id (in every log line of the request and
/// in the `X-Request-Id` response header), logs its method and path, counts it in the request
/// metrics, and keeps the number of handlers running for `GracefulShutdown`.
struct RequestObservationMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        // Vapor adopts an incoming X-Request-Id; one a proxy made is kept, anything odd is replaced.
        let requestID = Self.isAcceptable(request.id) ? request.id : UUID().uuidString
        request.logger[metadataKey: "request-id"] = .string(requestID)
        request.logger.info("\(request.method) \(Self.loggable(InvitationLink.redacted(request.url.path)))")
        let started = ContinuousClock.now
        let inFlight = request.application.requestsInFlight
        inFlight.started()
        return next.respond(to: request).map { response in
            response.headers.replaceOrAdd(name: .xRequestId, value: requestID)
            record(request, status: response.status, since: started)
            return response
        }.flatMapErrorThrowing { error in
            record(request, status: .internalServerError, since: started)
            throw error
        }.always { _ in
            inFlight.finished()
        }
    }

    private func record(_ request: Request, status: HTTPResponseStatus, since started: ContinuousClock.Instant) {
        request.metrics.request(
            method: request.method,
            route: Self.routeLabel(request),
            status: status,
            duration: ContinuousClock.now - started
        )
    }

    /// The route's pattern (`/api/orgs/:slug/members`), never the path itself, which holds
    /// slugs, ids and codes; static files and unknown paths share one label.
    static func routeLabel(_ request: Request) -> String {
        guard let route = request.route else { return "unrouted" }
        return "/" + route.path.map(\.description).joined(separator: "/")
    }

    /// The path as it was sent, still percent-encoded, with any byte outside printable ASCII
    /// encoded too: a decoded line break would forge a line of the text log.
    static func loggable(_ path: String) -> String {
        guard !path.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else { return path }
        return path.utf8.map { (0x21...0x7e).contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }
            .joined()
    }

    static func isAcceptable(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                    true
                default: false
                }
            }
    }
}
