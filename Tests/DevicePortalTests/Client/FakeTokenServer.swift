import DevicePortalClient
import Foundation
import NIOConcurrencyHelpers
import VaporTesting

/// A stand-in authorization server whose token endpoint answers from a script. It records each
/// poll, and each answer to one, at the time of the clock the client polls with, so a test can
/// count polls and measure their spacing, and it serves the metadata, device code, `/me` and
/// revocation a client needs.
///
/// It can also play a hostile server: any field of its JSON answers can be replaced by raw JSON
/// text, any route can answer something else entirely (a redirect, a page that is not JSON), and
/// it records every request that reaches it, so a second instance can stand as "another origin"
/// that must never hear from the client.
final class FakeTokenServer: Sendable {
    enum Answer: Sendable {
        case pending
        case slowDown
        case approved
        case oauthError(String, status: HTTPResponseStatus = .badRequest)
        case status(HTTPResponseStatus)
        /// Holds the request (for real) until `release()`, or at most 30 s, then answers `pending`.
        case hang
        /// What a server applying `Prefer: wait` (RFC 7240) does: holds a poll that asks to wait
        /// for this long, on the client's clock (no real time on a `VirtualClock`), then gives the
        /// answer with `Preference-Applied: wait=N`, N as asked. A poll that does not ask to wait
        /// gets the answer at once, without `Preference-Applied`.
        indirect case held(Duration, then: Answer)
        /// Anything else.
        case reply(Reply)
    }

    enum Route: String, Sendable, CaseIterable {
        case metadata = "GET /.well-known/oauth-authorization-server"
        case deviceCode = "POST /auth/device/code"
        case token = "POST /auth/device/token"
        case revoke = "POST /auth/token/revoke"
        case me = "GET /me"
    }

    /// A whole answer. In its body and headers `{origin}` stands for this server's origin
    /// (`http://127.0.0.1:PORT`) and `{port}` for its port.
    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: [String: String] = [:]
        var body: String

        static func json(_ body: String, status: HTTPResponseStatus = .ok) -> Reply {
            Reply(status: status, headers: ["Content-Type": "application/json"], body: body)
        }

        static func redirect(_ status: HTTPResponseStatus, to location: String) -> Reply {
            Reply(status: status, headers: ["Location": location], body: "moved")
        }

        static func page(_ body: String, status: HTTPResponseStatus = .ok) -> Reply {
            Reply(status: status, headers: ["Content-Type": "text/html"], body: body)
        }
    }

    struct Settings: Sendable {
        var interval = 5
        var expiresIn = 900
        /// The metadata's issuer; `nil`: the address the client used.
        var issuer: String?
        /// The metadata's token endpoint; `nil`: this server's.
        var tokenEndpoint: String?
        /// Fields of a route's usual JSON answer replaced (or added) as raw JSON text, such as
        /// `[.deviceCode: ["interval": "1e30"]]`; `.token` is the approved answer.
        var fields: [Route: [String: String]] = [:]
        /// Routes that give this answer instead of their usual one (for `.token`, unless the script says `.reply`).
        var replies: [Route: Reply] = [:]
    }

    /// A request as it reached the server.
    struct Seen: Sendable, Equatable {
        let method: String
        let path: String
        let authorization: String?
        let userAgent: String?
        let prefer: String?
    }

    let app: Application
    let url: URL
    private let state: State

    /// What the routes share with the test.
    final class State: Sendable {
        let polls = NIOLockedValueBox<[Duration]>([])
        let answers = NIOLockedValueBox<[Duration]>([])
        let requests = NIOLockedValueBox<[Seen]>([])
        let revoked = NIOLockedValueBox<[String]>([])
        let released = NIOLockedValueBox(false)
        let stopped = NIOLockedValueBox(false)
    }

    /// The clock time of every poll so far.
    var polls: [Duration] { state.polls.withLockedValue { $0 } }

    /// The clock time of every answer to a poll so far (later than its poll when it was held).
    var answers: [Duration] { state.answers.withLockedValue { $0 } }

    /// The time from each answer to the next poll: the interval as the portal counts it.
    var gapsAfterAnswers: [Duration] {
        zip(polls.dropFirst(), answers).map { $0 - $1 }
    }

    /// The requests that polled the token endpoint, in order.
    var pollRequests: [Seen] { requests.filter { $0.path == "/auth/device/token" } }

    /// Every request that reached this server, whatever its route.
    var requests: [Seen] { state.requests.withLockedValue { $0 } }

    /// The tokens sent to the revocation endpoint.
    var revoked: [String] { state.revoked.withLockedValue { $0 } }

    /// The gaps between consecutive polls.
    var spacing: [Duration] {
        let polls = polls
        return zip(polls.dropFirst(), polls).map { $0 - $1 }
    }

    /// The port this server listens on, on 127.0.0.1.
    var port: Int { url.port ?? 0 }

    private init(app: Application, url: URL, state: State) {
        self.app = app
        self.url = url
        self.state = state
    }

    /// Lets held requests answer.
    func release() {
        state.released.withLockedValue { $0 = true }
    }

    /// Starts a server; `script` gets the number of the poll (1 for the first) and the times of
    /// all polls so far, this one last.
    static func start(
        _ settings: Settings = Settings(),
        clock: any PollingClock,
        script: @escaping @Sendable (_ poll: Int, _ times: [Duration]) -> Answer = { _, _ in .pending }
    ) async throws -> FakeTokenServer {
        let app = try await Application.make(.testing)
        app.logger.logLevel = .error
        let state = State()
        app.middleware.use(Recording(state: state), at: .beginning)
        routes(app, settings, state: state, clock: clock, script: script)
        do {
            try await app.server.start(address: .hostname("127.0.0.1", port: 0))
            guard let port = app.http.server.shared.localAddress?.port else { throw TestFailure("no port") }
            return FakeTokenServer(app: app, url: URL(string: "http://127.0.0.1:\(port)")!, state: state)
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
    }

    /// Stops the server; a stopped server's port refuses connections. Stopping twice is fine.
    func stop() async {
        guard
            !state.stopped.withLockedValue({ stopped in
                defer { stopped = true }; return stopped
            })
        else { return }
        await app.server.shutdown()
        try? await app.asyncShutdown()
    }

    private struct Recording: AsyncMiddleware {
        let state: State

        func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
            state.requests.withLockedValue {
                $0.append(
                    Seen(
                        method: request.method.rawValue,
                        path: request.url.path,
                        authorization: request.headers.first(name: .authorization),
                        userAgent: request.headers.first(name: .userAgent),
                        prefer: request.headers.first(name: "Prefer")
                    )
                )
            }
            return try await next.respond(to: request)
        }
    }

    /// Routes are in place before the server starts; they learn its address from `Host`.
    private static func routes(
        _ app: Application,
        _ settings: Settings,
        state: State,
        clock: any PollingClock,
        script: @escaping @Sendable (Int, [Duration]) -> Answer
    ) {
        @Sendable func origin(of req: Request) -> String { "http://" + (req.headers.first(name: .host) ?? "") }
        @Sendable func answer(_ route: Route, _ req: Request, usual: [(String, String)]) -> Response {
            if let reply = settings.replies[route] { return respond(reply, origin: origin(of: req)) }
            return respond(.json(object(usual, replacing: settings.fields[route] ?? [:])), origin: origin(of: req))
        }
        app.get(".well-known", "oauth-authorization-server") { req in
            answer(
                .metadata,
                req,
                usual: [
                    ("issuer", quoted(settings.issuer ?? "{origin}")),
                    ("device_authorization_endpoint", quoted("{origin}/auth/device/code")),
                    ("token_endpoint", quoted(settings.tokenEndpoint ?? "{origin}/auth/device/token")),
                    ("revocation_endpoint", quoted("{origin}/auth/token/revoke")),
                    ("grant_types_supported", "[\(quoted(PortalClient.deviceCodeGrant))]"),
                ]
            )
        }
        app.post("auth", "device", "code") { req in
            answer(
                .deviceCode,
                req,
                usual: [
                    ("device_code", quoted("fake-device-code")), ("user_code", quoted("BCDF-GHJK")),
                    ("verification_uri", quoted("{origin}/auth/device")),
                    ("verification_uri_complete", quoted("{origin}/auth/device?user_code=BCDF-GHJK")),
                    ("expires_in", "\(settings.expiresIn)"), ("interval", "\(settings.interval)"),
                ]
            )
        }
        @Sendable func token(_ scripted: Answer, _ req: Request) async throws -> Response {
            switch scripted {
            case .pending: return oauthError("authorization_pending", .badRequest)
            case .slowDown: return oauthError("slow_down", .badRequest)
            case .oauthError(let error, let status): return oauthError(error, status)
            case .status(let status): return Response(status: status, body: .init(string: "<html>oops</html>"))
            case .reply(let reply): return respond(reply, origin: origin(of: req))
            case .hang:
                for _ in 0..<1_500 where !state.released.withLockedValue({ $0 }) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                return oauthError("authorization_pending", .badRequest)
            case .held(let hold, let then):
                guard let prefer = req.headers.first(name: "Prefer"),
                    let asked = prefer.wholeMatch(of: /wait=([0-9]+)/).flatMap({ Int($0.1) })
                else { return try await token(then, req) }
                try await clock.sleep(for: hold)
                let response = try await token(then, req)
                response.headers.replaceOrAdd(name: "Preference-Applied", value: "wait=\(asked)")
                return response
            case .approved:
                return answer(
                    .token,
                    req,
                    usual: [
                        ("access_token", quoted(approvedToken)), ("token_type", quoted("Bearer")),
                        ("expires_in", "7776000"),
                        ("user", #"{"id": "u1", "email": "ada@example.com", "name": "Ada"}"#),
                        ("organization", #"{"id": "o1", "slug": "acme", "name": "Acme"}"#),
                    ]
                )
            }
        }
        app.post("auth", "device", "token") { req in
            let times = state.polls.withLockedValue {
                $0.append(clock.now())
                return $0
            }
            let response = try await token(script(times.count, times), req)
            state.answers.withLockedValue { $0.append(clock.now()) }
            return response
        }
        app.post("auth", "token", "revoke") { req in
            if let token = try? req.content.get(String.self, at: "token") {
                state.revoked.withLockedValue { $0.append(token) }
            }
            return answer(.revoke, req, usual: [])
        }
        app.get("me") { req in
            answer(
                .me,
                req,
                usual: [
                    ("user", #"{"id": "u1", "email": "ada@example.com", "name": "Ada"}"#),
                    ("organization", #"{"id": "o1", "slug": "acme", "name": "Acme"}"#),
                    ("role", #"{"name": "admin", "permissions": ["org:read"]}"#),
                    ("auth", #"{"type": "api_token", "expires_at": "2027-03-01T10:00:00Z"}"#),
                ]
            )
        }
    }

    /// The token that `.approved` hands out (unless `fields[.token]` says otherwise).
    static let approvedToken = String(repeating: "ab", count: 32)

    private static func respond(_ reply: Reply, origin: String) -> Response {
        func fill(_ text: String) -> String {
            text.replacingOccurrences(of: "{origin}", with: origin)
                .replacingOccurrences(of: "{port}", with: String(origin.split(separator: ":").last ?? ""))
        }
        var headers = HTTPHeaders()
        for (name, value) in reply.headers { headers.replaceOrAdd(name: name, value: fill(value)) }
        return Response(status: reply.status, headers: headers, body: .init(string: fill(reply.body)))
    }

    /// A JSON object from raw JSON values, in order, with `replacing` applied (new keys at the end).
    private static func object(_ fields: [(String, String)], replacing: [String: String]) -> String {
        var fields = fields.map { key, value in (key, replacing[key] ?? value) }
        for (key, value) in replacing.sorted(by: { $0.key < $1.key }) where !fields.contains(where: { $0.0 == key }) {
            fields.append((key, value))
        }
        return "{" + fields.map { "\(quoted($0)): \($1)" }.joined(separator: ", ") + "}"
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    private static func oauthError(_ error: String, _ status: HTTPResponseStatus) -> Response {
        let body = object(
            [("error", quoted(error)), ("error_description", quoted("scripted \(error)"))],
            replacing: [:]
        )
        return Response(status: status, headers: ["Content-Type": "application/json"], body: .init(string: body))
    }
}

/// Runs `test` with a fake server, stopping it afterwards whatever happens.
func withFakeServer(
    _ settings: FakeTokenServer.Settings = .init(),
    clock: any PollingClock,
    script: @escaping @Sendable (_ poll: Int, _ times: [Duration]) -> FakeTokenServer.Answer = { _, _ in .pending },
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

/// Runs `test` with a hostile server and a witness: a second server, on another port, standing
/// for any other origin. The test hands the witness's address to the hostile server's settings.
func withHostileServer(
    clock: any PollingClock = VirtualClock(),
    _ settings: (_ witness: URL) -> FakeTokenServer.Settings,
    script: @escaping @Sendable (_ poll: Int, _ times: [Duration]) -> FakeTokenServer.Answer = { _, _ in .approved },
    _ test: (_ server: FakeTokenServer, _ witness: FakeTokenServer) async throws -> Void
) async throws {
    let witness = try await FakeTokenServer.start(clock: clock)
    do {
        try await withFakeServer(settings(witness.url), clock: clock, script: script) { server in
            try await test(server, witness)
        }
    } catch {
        await witness.stop()
        throw error
    }
    await witness.stop()
}
