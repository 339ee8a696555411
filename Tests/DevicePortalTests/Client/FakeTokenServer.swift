import DevicePortalClient
import Foundation
import NIOConcurrencyHelpers
import VaporTesting

/// A stand-in authorization server whose token endpoint answers from a script. It records each
/// poll at the time of the clock the client polls with, so a test can count polls and measure
/// their spacing, and it serves the metadata and device code a `PortalClient` needs first.
final class FakeTokenServer: Sendable {
    enum Answer: Sendable {
        case pending
        case slowDown
        case approved
        case oauthError(String, status: HTTPResponseStatus = .badRequest)
        case status(HTTPResponseStatus)
        /// Holds the request (for real) until `release()`, or at most 30 s, then answers `pending`.
        case hang
    }

    struct Settings: Sendable {
        var interval = 5
        var expiresIn = 900
        /// The metadata's issuer; `nil`: the address the client used.
        var issuer: String?
        /// The metadata's token endpoint; `nil`: this server's.
        var tokenEndpoint: String?
    }

    let app: Application
    let url: URL
    private let recorded: NIOLockedValueBox<[Duration]>
    private let released: NIOLockedValueBox<Bool>

    /// The clock time of every poll so far.
    var polls: [Duration] { recorded.withLockedValue { $0 } }

    /// The gaps between consecutive polls.
    var spacing: [Duration] {
        let polls = polls
        return zip(polls.dropFirst(), polls).map { $0 - $1 }
    }

    private init(app: Application, url: URL, recorded: NIOLockedValueBox<[Duration]>, released: NIOLockedValueBox<Bool>)
    {
        self.app = app
        self.url = url
        self.recorded = recorded
        self.released = released
    }

    /// Lets held requests answer.
    func release() {
        released.withLockedValue { $0 = true }
    }

    /// Starts a server; `script` gets the number of the poll (1 for the first) and the times of
    /// all polls so far, this one last.
    static func start(
        _ settings: Settings = Settings(), clock: any PollingClock,
        script: @escaping @Sendable (_ poll: Int, _ times: [Duration]) -> Answer
    ) async throws -> FakeTokenServer {
        let app = try await Application.make(.testing)
        app.logger.logLevel = .error
        let recorded = NIOLockedValueBox<[Duration]>([])
        let released = NIOLockedValueBox(false)
        routes(app, settings, recorded: recorded, released: released, clock: clock, script: script)
        do {
            try await app.server.start(address: .hostname("127.0.0.1", port: 0))
            guard let port = app.http.server.shared.localAddress?.port else { throw TestFailure("no port") }
            return FakeTokenServer(
                app: app, url: URL(string: "http://127.0.0.1:\(port)")!, recorded: recorded, released: released)
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
    }

    func stop() async {
        await app.server.shutdown()
        try? await app.asyncShutdown()
    }

    /// Routes are in place before the server starts; they learn its address from `Host`.
    private static func routes(
        _ app: Application, _ settings: Settings, recorded: NIOLockedValueBox<[Duration]>,
        released: NIOLockedValueBox<Bool>, clock: any PollingClock,
        script: @escaping @Sendable (Int, [Duration]) -> Answer
    ) {
        @Sendable func origin(of req: Request) -> String { "http://" + (req.headers.first(name: .host) ?? "") }
        app.get(".well-known", "oauth-authorization-server") { req in
            let base = origin(of: req)
            return Self.json(
                .ok,
                [
                    "issuer": settings.issuer ?? base,
                    "device_authorization_endpoint": base + "/auth/device/code",
                    "token_endpoint": settings.tokenEndpoint ?? base + "/auth/device/token",
                    "revocation_endpoint": base + "/auth/token/revoke",
                    "grant_types_supported": [PortalClient.deviceCodeGrant],
                ])
        }
        app.post("auth", "device", "code") { req in
            let base = origin(of: req)
            return Self.json(
                .ok,
                [
                    "device_code": "fake-device-code", "user_code": "BCDF-GHJK",
                    "verification_uri": base + "/auth/device",
                    "verification_uri_complete": base + "/auth/device?user_code=BCDF-GHJK",
                    "expires_in": settings.expiresIn, "interval": settings.interval,
                ])
        }
        app.post("auth", "device", "token") { _ in
            let times = recorded.withLockedValue {
                $0.append(clock.now())
                return $0
            }
            return try await Self.respond(script(times.count, times), released: released)
        }
        app.post("auth", "token", "revoke") { _ in Self.json(.ok, [:]) }
    }

    private static func respond(_ answer: Answer, released: NIOLockedValueBox<Bool>) async throws -> Response {
        switch answer {
        case .pending: return oauthError("authorization_pending", .badRequest)
        case .slowDown: return oauthError("slow_down", .badRequest)
        case .oauthError(let error, let status): return oauthError(error, status)
        case .status(let status): return Response(status: status, body: .init(string: "<html>oops</html>"))
        case .hang:
            for _ in 0..<1_500 where !released.withLockedValue({ $0 }) {
                try await Task.sleep(for: .milliseconds(20))
            }
            return oauthError("authorization_pending", .badRequest)
        case .approved:
            return json(
                .ok,
                [
                    "access_token": String(repeating: "ab", count: 32), "token_type": "Bearer", "expires_in": 7_776_000,
                    "user": ["id": "u1", "email": "ada@example.com", "name": "Ada"],
                    "organization": ["id": "o1", "slug": "acme", "name": "Acme"],
                ])
        }
    }

    private static func oauthError(_ error: String, _ status: HTTPResponseStatus) -> Response {
        json(status, ["error": error, "error_description": "scripted \(error)"])
    }

    private static func json(_ status: HTTPResponseStatus, _ body: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        return Response(status: status, headers: ["Content-Type": "application/json"], body: .init(data: data))
    }
}

/// Runs `test` with a fake server, stopping it afterwards whatever happens.
func withFakeServer(
    _ settings: FakeTokenServer.Settings = .init(), clock: any PollingClock,
    script: @escaping @Sendable (_ poll: Int, _ times: [Duration]) -> FakeTokenServer.Answer,
    _ test: (FakeTokenServer) async throws -> Void
) async throws {
    let server = try await FakeTokenServer.start(settings, clock: clock, script: script)
    do {
        try await test(server)
    } catch {
        server.release()
        await server.stop()
        throw error
    }
    server.release()
    await server.stop()
}
