import DevicePortalClient
import Foundation
import Testing
import VaporTesting

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The client library against a server that lies: it redirects, names endpoints elsewhere, asks
/// for absurd waits and hides escape sequences in its text. A second server (the witness) stands
/// for every other origin: it must never hear from the client.
@Suite("Client: a hostile server", .serialized)
struct ClientHostileServerTests {
    static let token = AccessToken(String(repeating: "c0", count: 32))

    @Test(
        "a redirect on any request is an error naming where it pointed; the other origin never hears of it",
        arguments: [FakeTokenServer.Route.metadata, .deviceCode, .token, .revoke, .me],
        [302, 307] as [UInt]
    )
    func redirects(route: FakeTokenServer.Route, status: UInt) async throws {
        try await withHostileServer({ witness in
            var settings = FakeTokenServer.Settings(interval: 1)
            settings.replies[route] = .redirect(.init(statusCode: Int(status)), to: witness.absoluteString + "/caught")
            return settings
        }) { server, witness in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: VirtualClock())
            await #expect {
                switch route {  // MUT
                case .metadata, .deviceCode: _ = try await client.startSignIn()
                case .token: _ = try await client.waitForToken(try await client.startSignIn())
                case .revoke: try await client.signOut(Self.token)
                case .me: _ = try await client.me(Self.token)
                }
            } throws: { error in
                guard case PortalClientError.redirected(let answered, let location) = error else { return false }
                return answered == Int(status) && location == witness.url.absoluteString + "/caught"
            }
            #expect(witness.requests.isEmpty)
        }
    }

    @Test("a session of the caller's own, without any delegate, follows no redirect either")
    func callersSession() async throws {
        try await withHostileServer({ witness in
            FakeTokenServer.Settings(replies: [.me: .redirect(.found, to: witness.absoluteString + "/me")])
        }) { server, witness in
            let session = URLSession(configuration: .ephemeral)
            defer { session.invalidateAndCancel() }
            let client = PortalClient(server: server.url, clientID: "desktop", session: session)
            let redirect = PortalClientError.redirected(status: 302, location: witness.url.absoluteString + "/me")
            await #expect(throws: redirect) {
                try await client.me(Self.token)  // MUT
            }
            #expect(witness.requests.isEmpty)
            #expect(server.requests.map(\.authorization) == [Self.token.value].map { "Bearer \($0)" })
        }
    }

    /// Where a lying metadata document sends an endpoint: another port (the witness), another
    /// host on the same port, another scheme on the same host and port, a user name in front.
    static let elsewhere: [(String, @Sendable (URL) -> String)] = [
        ("another port", { $0.absoluteString }),
        ("another host", { _ in "http://localhost:{port}" }),
        ("another scheme", { _ in "https://127.0.0.1:{port}" }),
        ("a user name", { _ in "http://ada@127.0.0.1:{port}" }),
    ]

    @Test(
        "metadata naming an endpoint off the issuer's origin is refused before anything is sent there",
        arguments: ["device_authorization_endpoint", "token_endpoint", "revocation_endpoint"],
        0..<4
    )
    func endpointsElsewhere(field: String, place: Int) async throws {
        let (name, address) = Self.elsewhere[place]
        let paths = [
            "device_authorization_endpoint": "/auth/device/code", "token_endpoint": "/auth/device/token",
            "revocation_endpoint": "/auth/token/revoke",
        ]
        try await withHostileServer({ witness in
            FakeTokenServer.Settings(
                fields: [.metadata: [field: FakeTokenServer.quoted(address(witness) + paths[field, default: ""])]])
        }) { server, witness in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: VirtualClock())
            for call in ["start", "sign out"] {
                await #expect {
                    if call == "start" {
                        _ = try await client.startSignIn()
                    } else {
                        try await client.signOut(Self.token)
                    }  // MUT
                } throws: { error in
                    guard case PortalClientError.discovery(let problem) = error else { return false }
                    return problem.contains(field) && problem.contains("is not on \(server.url.absoluteString)")
                }
            }
            #expect(witness.requests.isEmpty, "\(name)")
            #expect(server.requests.allSatisfy { $0.path == "/.well-known/oauth-authorization-server" }, "\(name)")
        }
    }

    @Test(
        "verification pages off the issuer's origin are refused, and no poll is made",
        arguments: ["verification_uri", "verification_uri_complete"],
        0..<4
    )
    func pagesElsewhere(field: String, place: Int) async throws {
        let (name, address) = Self.elsewhere[place]
        try await withHostileServer({ witness in
            FakeTokenServer.Settings(fields: [
                .deviceCode: [field: FakeTokenServer.quoted(address(witness) + "/auth/device")]
            ])
        }) { server, witness in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: VirtualClock())
            await #expect {
                try await client.startSignIn()  // MUT
            } throws: { error in
                guard case PortalClientError.unexpectedResponse(_, let detail) = error else { return false }
                return detail.hasPrefix(field + " ")
            }
            #expect(server.polls.isEmpty, "\(name)")
            #expect(witness.requests.isEmpty, "\(name)")
        }
    }

    @Test(
        "an interval out of bounds is kept within 1…60 s: polls come that far apart, no wait overflows",
        arguments: [
            ("9223372036854775807", 60), ("4611686018427387904", 60), ("61", 60), ("60", 60), ("0", 1), ("-5", 1),
            ("-9223372036854775808", 1), ("null", 5),
        ]
    )
    func intervals(raw: String, kept: Int) async throws {
        let clock = VirtualClock()
        try await withHostileServer(clock: clock, { _ in .init(fields: [.deviceCode: ["interval": raw]]) }) {
            server,
            _ in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let signIn = try await client.startSignIn()
            #expect(signIn.interval == kept)  // MUT
            _ = try await client.waitForToken(signIn)
            #expect(server.polls == [.seconds(kept)])
            #expect(clock.sleeps.allSatisfy { $0 <= .seconds(60) })
        }
    }

    @Test(
        "an expires_in beyond 24 hours ends the wait at 24 hours; zero, negative or non-integer ones are errors",
        arguments: [
            ("9223372036854775807", 86_400), ("4611686018427387904", 86_400), ("86401", 86_400), ("12", 12),
            ("0", nil), ("-1", nil), ("-9223372036854775808", nil), ("1e30", nil), ("\"900\"", nil), ("null", nil),
            ("99999999999999999999", nil),
        ] as [(String, Int?)]
    )
    func expiries(raw: String, kept: Int?) async throws {
        let clock = VirtualClock()
        let settings = FakeTokenServer.Settings(interval: 60, fields: [.deviceCode: ["expires_in": raw]])
        try await withHostileServer(clock: clock, { _ in settings }, script: { _, _ in .pending }) { server, _ in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            guard let kept else {
                await #expect {
                    try await client.startSignIn()  // MUT
                } throws: { error in
                    guard case PortalClientError.unexpectedResponse = error else { return false }
                    expectTerminalSafe(error.localizedDescription, "the error")
                    return true
                }
                return
            }
            let signIn = try await client.startSignIn()  // MUT
            #expect(signIn.expiresIn == kept)
            // Waiting out a whole day takes 1440 polls: once is enough.
            guard raw == "9223372036854775807" || kept < 60 else { return }
            await #expect(throws: PortalClientError.expired) { try await client.waitForToken(signIn) }
            #expect(clock.now() == .seconds(kept))
            #expect(server.polls.count == (kept - 1) / 60)
        }
    }

    @Test(
        "interval as a float, a string or a number too big for any integer is an error, not a crash",
        arguments: ["1e30", "5.5", "\"5\"", "99999999999999999999", "[]"]
    )
    func unreadableIntervals(raw: String) async throws {
        try await withHostileServer({ _ in .init(fields: [.deviceCode: ["interval": raw]]) }) { server, _ in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: VirtualClock())
            await #expect {
                try await client.startSignIn()  // MUT
            } throws: { error in
                guard case PortalClientError.unexpectedResponse(200, let detail) = error else { return false }
                return detail.hasPrefix("unreadable JSON")
            }
        }
    }

    @Test("slow_down for ever grows the interval to 60 s and no further")
    func slowDownCapped() async throws {
        let clock = VirtualClock()
        let settings = FakeTokenServer.Settings(interval: 30, expiresIn: 3_600)
        try await withFakeServer(settings, clock: clock, script: { poll, _ in poll < 20 ? .slowDown : .approved }) {
            server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let events = Recorder<PollEvent>()
            _ = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT
            #expect(
                server.spacing == ([35, 40, 45, 50, 55] + Array(repeating: 60, count: 14)).map { Duration.seconds($0) }
            )
            #expect(events.values.last == .slowDown(interval: .seconds(60)))
        }
    }

    @Test("a Retry-After of 2^63−1 seconds waits 60 s at most")
    func retryAfterCapped() async throws {
        let clock = VirtualClock()
        let busy = FakeTokenServer.Reply(
            status: .serviceUnavailable,
            headers: ["Retry-After": "9223372036854775807"],
            body: "busy"
        )
        try await withFakeServer(clock: clock, script: { poll, _ in poll == 1 ? .reply(busy) : .approved }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            _ = try await client.waitForToken(try await client.startSignIn())  // MUT
            #expect(server.spacing == [.seconds(60)])
        }
    }

    @Test("the real clock waits an absurd duration without trapping, and a cancellation still ends it at once")
    func systemClockAbsurdWait() async throws {
        let waiting = Task { try await SystemPollingClock().sleep(for: .seconds(Int64.max)) }  // MUT
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }

    @Test(
        "escape sequences in any text of the server never reach an error message",
        arguments: FakeTokenServer.Route.allCases
    )
    func hostileTextInErrors(route: FakeTokenServer.Route) async throws {
        let oauthError = FakeTokenServer.Reply.json(
            #"{"error": \#(FakeTokenServer.quoted(hostileText)), "error_description": \#(FakeTokenServer.quoted(hostileText))}"#,
            status: .badRequest
        )
        let replies: [FakeTokenServer.Reply] = [
            oauthError, .page(hostileText, status: .internalServerError), .page(hostileText),
            .redirect(.found, to: "http://evil.example/\u{1B}[2J\u{9B}31m\u{202E}\u{7F}"),
        ]
        // A revocation answered 200 has succeeded, whatever its body.
        for reply in replies where !(route == .revoke && reply.status == .ok) {
            try await withHostileServer({ _ in .init(replies: [route: reply]) }, script: { _, _ in .reply(reply) }) {
                server,
                _ in
                let client = PortalClient(server: server.url, clientID: "desktop", clock: VirtualClock())
                do {
                    switch route {  // MUT
                    case .metadata, .deviceCode: _ = try await client.startSignIn()
                    case .token: _ = try await client.waitForToken(try await client.startSignIn())
                    case .revoke: try await client.signOut(Self.token)
                    case .me: _ = try await client.me(Self.token)
                    }
                    Issue.record("\(route) succeeded with \(reply.status)")
                } catch {
                    #expect(error is PortalClientError)
                    expectTerminalSafe(error.localizedDescription, "\(route) \(reply.status)")
                    expectTerminalSafe(String(describing: error), "\(route) \(reply.status)")
                }
            }
        }
    }

    @Test(
        "a user code outside XXXX-XXXX in BCDFGHJKLMNPQRSTVWXZ is refused, shown safely",
        arguments: [hostileText, "bcdf-ghjk", "BCDF-GHJK\n", "AEIO-UAEI", "BCDF-GHJ\u{202E}", ""]
    )
    func userCodes(code: String) async throws {
        try await withHostileServer({ _ in .init(fields: [.deviceCode: ["user_code": FakeTokenServer.quoted(code)]]) })
        {
            server,
            _ in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: VirtualClock())
            await #expect {
                try await client.startSignIn()  // MUT
            } throws: { error in
                guard case PortalClientError.unexpectedResponse(_, let detail) = error else { return false }
                expectTerminalSafe(detail, "the detail")
                return detail.hasPrefix("user_code")
            }
        }
    }

    @Test(
        "a token with a line break, a space or a control is refused, not stored or sent on",
        arguments: ["abc\r\nX-Injected: 1", "ab cd", "ab\u{1B}[2J", ""]
    )
    func tokens(token: String) async throws {
        let clock = VirtualClock()
        try await withHostileServer(
            clock: clock,
            { _ in
                .init(interval: 1, fields: [.token: ["access_token": FakeTokenServer.quoted(token)]])
            }
        ) { server, _ in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            await #expect {
                try await client.waitForToken(try await client.startSignIn())  // MUT
            } throws: { error in
                guard case PortalClientError.unexpectedResponse(200, let detail) = error else { return false }
                return detail.hasPrefix("unreadable JSON")
            }
        }
    }

    @Test("plain http to a host that is not this machine is refused before any request, unless allowed")
    func plainHTTP() async throws {
        try await withFakeServer(clock: VirtualClock()) { server in
            // 0.0.0.0 reaches this machine's listeners, but it is no loopback address.
            let remote = try #require(URL(string: "http://0.0.0.0:\(server.port)"))
            for address in [remote, URL(string: "http://127.attacker.example")!] {
                await #expect(
                    throws: PortalClientError.insecureTransport(
                        address.appendingPathComponent(".well-known/oauth-authorization-server")
                    )
                ) {
                    try await PortalClient(server: address, clientID: "desktop").metadata()  // MUT
                }
            }
            await #expect(throws: PortalClientError.insecureTransport(remote.appendingPathComponent("me"))) {
                try await PortalClient(server: remote, clientID: "desktop").me(Self.token)  // MUT
            }
            #expect(server.requests.isEmpty)

            let allowed = PortalClient(server: remote, clientID: "desktop", allowsInsecureHTTP: true)
            #expect(
                try await allowed.metadata().tokenEndpoint.absoluteString
                    == "\(remote.absoluteString)/auth/device/token"
            )  // MUT
            #expect(server.requests.count == 1)
        }
    }
}
