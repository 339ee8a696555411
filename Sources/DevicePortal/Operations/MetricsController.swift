import Crypto
import Fluent
import Prometheus
import SQLKit
import Vapor

/// `GET /metrics` in the Prometheus text format. With `METRICS_TOKEN` set it needs that
/// bearer token; without, it answers only a peer on the loopback interface that no proxy
/// relayed: not a trusted proxy, and no forwarding header (a proxy on the same host would
/// otherwise make every outsider look local).
enum MetricsController {
    @Sendable static func scrape(req: Request) async throws -> Response {
        try authorize(req)
        await updateStock(req)
        req.metrics.setHeldPolls(req.application.heldPolls.count)
        let headers: HTTPHeaders = ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"]
        return Response(status: .ok, headers: headers, body: .init(data: Data(req.metrics.registry.emitToBuffer())))
    }

    static func authorize(_ req: Request) throws {
        if let expected = req.application.config.metricsToken {
            let given = req.headers.bearerAuthorization?.token ?? ""
            // Compare digests, so the time taken says nothing about the token.
            guard SHA256.hash(data: Data(given.utf8)) == SHA256.hash(data: Data(expected.utf8)) else {
                throw JSONError(
                    status: .unauthorized,
                    error: "unauthorized",
                    description: "/metrics needs Authorization: Bearer <METRICS_TOKEN>.",
                    headers: ["WWW-Authenticate": "Bearer"]
                )
            }
            return
        }
        let relayed = Self.forwardingHeaders.contains { req.headers.contains(name: $0) }
        guard let peer = req.remoteAddress?.ipAddress, isLoopback(peer), !relayed,
            !req.application.config.trustedProxies.contains(where: { $0.contains(peer) })
        else {
            throw JSONError(
                status: .forbidden,
                error: "forbidden",
                description: "/metrics answers only loopback peers unless METRICS_TOKEN is set."
            )
        }
    }

    static let forwardingHeaders: [HTTPHeaders.Name] = [
        .xForwardedFor, .forwarded, "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host",
    ]

    static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }

    /// The gauges count the whole deployment's rows; a database outage leaves them as they were
    /// so that the request counters, which show the outage, still get scraped.
    private static func updateStock(_ req: Request) async {
        let now = Date()
        do {
            let activeTokens =
                try await req.db.sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                .from(APIToken.schema)
                .where("revoked_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, now)
                .first()?.decode(column: "n", as: Int.self) ?? 0
            let pendingCodes =
                try await req.db.sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
                .from(DeviceAuthorization.schema)
                .where("status", .equal, DeviceAuthorization.Status.pending.rawValue)
                .where("expires_at", .greaterThan, now)
                .first()?.decode(column: "n", as: Int.self) ?? 0
            req.metrics.setStock(activeTokens: activeTokens, pendingDeviceCodes: pendingCodes)
            req.metrics.setMailQueued(try await Outbox.queuedCount(on: req.db))
        } catch {
            req.logger.warning("metrics: cannot count tokens and codes: \(String(reflecting: error))")
        }
    }
}
