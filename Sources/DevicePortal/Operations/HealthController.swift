import Fluent
import Vapor

/// Liveness and readiness for load balancers.
enum HealthController {
    struct Status: Content {
        let status: String
    }

    /// The process is up; touches no database.
    @Sendable static func live(req: Request) async throws -> Status {
        Status(status: "ok")
    }

    /// One trivial database round trip.
    @Sendable static func ready(req: Request) async throws -> Response {
        do {
            _ = try await req.db.sql.raw("SELECT 1 AS ok").first()
            return try await Status(status: "ok").encodeResponse(for: req)
        } catch {
            req.logger.warning("readiness check failed: \(String(reflecting: error))")
            return try await Status(status: "database unavailable").encodeResponse(
                status: .serviceUnavailable,
                for: req
            )
        }
    }
}
