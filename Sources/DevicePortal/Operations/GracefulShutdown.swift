import NIOConcurrencyHelpers
import Vapor

/// On SIGTERM, stops the HTTP server before anything else shuts down: it stops accepting
/// connections, lets requests in flight finish (up to the server's shutdown timeout, 10 s)
/// and closes idle keep-alive connections. A handler whose client has already hung up is not
/// waited for by the server, so this also waits (as long again at most) until no handler
/// runs. Only then do the later steps of `Application.asyncShutdown` close the database
/// pools, which handlers may still be using. Lifecycle handlers shut down in reverse order,
/// so this is registered last.
struct GracefulShutdown: LifecycleHandler {
    static let handlerTimeout: Duration = .seconds(10)

    func shutdownAsync(_ application: Application) async {
        application.logger.info("shutting down: finishing requests in flight, accepting no new ones")
        // Held polls are answered now (authorization_pending), not cut when the server stops.
        application.heldPolls.releaseAll()
        await application.server.shutdown()  // logs an error itself if requests outlast the timeout
        let deadline = ContinuousClock.now + Self.handlerTimeout
        while application.requestsInFlight.count > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        application.logger.info(
            "HTTP server stopped; closing the database",
            metadata: ["handlers_still_running": .stringConvertible(application.requestsInFlight.count)]
        )
    }
}

/// How many requests are being handled right now; kept by `RequestObservationMiddleware`.
final class RequestsInFlight: Sendable {
    private let running = NIOLockedValueBox(0)

    var count: Int { running.withLockedValue { $0 } }

    func started() { running.withLockedValue { $0 += 1 } }
    func finished() { running.withLockedValue { $0 -= 1 } }
}

extension Application {
    private struct RequestsInFlightKey: StorageKey {
        typealias Value = RequestsInFlight
    }

    /// Made by `configure`.
    var requestsInFlight: RequestsInFlight {
        get { configured(RequestsInFlightKey.self) }
        set { storage[RequestsInFlightKey.self] = newValue }
    }
}
