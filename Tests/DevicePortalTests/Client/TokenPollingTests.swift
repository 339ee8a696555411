import DevicePortalClient
import Foundation
import Testing
import VaporTesting

/// The poller's timing against a scripted server, on a virtual clock: each poll is recorded at
/// the clock's time, so spacing is exact and long waits take no real time.
@Suite("Client: polling the token endpoint")
struct TokenPollingTests {
    @Test("slow_down adds 5 s to the interval for good; the first poll waits one interval")
    func slowDownBacksOff() async throws {
        let clock = VirtualClock()
        try await withFakeServer(
            clock: clock,
            script: { poll, _ in poll <= 3 ? .slowDown : poll <= 5 ? .pending : .approved }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let signIn = try await client.startSignIn()
            let events = Recorder<PollEvent>()

            let signedIn = try await client.waitForToken(signIn) { events.append($0) }  // MUT

            #expect(signedIn.user.email == "ada@example.com")
            #expect(server.polls.count == 6)
            #expect(server.polls.first == .seconds(5))
            #expect(server.spacing == [10, 15, 20, 20, 20].map { Duration.seconds($0) })
            #expect(
                events.values == [
                    .slowDown(interval: .seconds(10)), .slowDown(interval: .seconds(15)),
                    .slowDown(interval: .seconds(20)), .pending(next: .seconds(20)), .pending(next: .seconds(20)),
                ]
            )
        }
    }

    @Test("a server that judges polls as the portal does never has to say slow_down")
    func neverEarly() async throws {
        let clock = VirtualClock()
        // The portal's rule: a poll sooner than the interval after the previous on-time poll is early.
        let interval = Duration.seconds(5)
        try await withFakeServer(
            clock: clock,
            script: { poll, times in
                if times.count > 1, times[times.count - 1] - times[times.count - 2] < interval { return .slowDown }
                return poll < 12 ? .pending : .approved
            }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let events = Recorder<PollEvent>()
            _ = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT
            #expect(server.polls.count == 12)
            #expect(server.spacing.allSatisfy { $0 == interval })
            #expect(!events.values.contains { if case .slowDown = $0 { true } else { false } })
        }
    }

    @Test("the wait ends at expires_in with .expired, without a poll past the expiry")
    func stopsAtExpiry() async throws {
        let clock = VirtualClock()
        let settings = FakeTokenServer.Settings(interval: 5, expiresIn: 12)
        try await withFakeServer(settings, clock: clock, script: { _, _ in .pending }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let signIn = try await client.startSignIn()
            await #expect(throws: PortalClientError.expired) {
                try await client.waitForToken(signIn)  // MUT
            }
            #expect(server.polls == [.seconds(5), .seconds(10)])
            #expect(clock.now() == .seconds(12))
        }
    }

    @Test("the server's expired_token, access_denied and invalid_client end the wait with their typed error")
    func serverVerdicts() async throws {
        let verdicts: [(FakeTokenServer.Answer, PortalClientError)] = [
            (.oauthError("expired_token"), .expired),
            (.oauthError("access_denied"), .accessDenied),
            (
                .oauthError("invalid_client", status: .unauthorized),
                .invalidClient(description: "scripted invalid_client")
            ),
            (
                .oauthError("invalid_grant"),
                .oauth(status: 400, error: "invalid_grant", description: "scripted invalid_grant")
            ),
        ]
        for (answer, expected) in verdicts {
            let clock = VirtualClock()
            try await withFakeServer(clock: clock, script: { poll, _ in poll == 1 ? .pending : answer }) { server in
                let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
                let signIn = try await client.startSignIn()
                await #expect(throws: expected) {
                    try await client.waitForToken(signIn)  // MUT
                }
                #expect(server.polls.count == 2)
            }
        }
    }

    @Test("a failed poll doubles the pause before the next; the wait carries on when the server is back")
    func serverErrorBackoff() async throws {
        let clock = VirtualClock()
        try await withFakeServer(
            clock: clock,
            script: { poll, _ in
                poll == 1 ? .pending : poll <= 3 ? .status(.serviceUnavailable) : .approved
            }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let events = Recorder<PollEvent>()
            _ = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT
            #expect(server.spacing == [5, 10, 20].map { Duration.seconds($0) })
            #expect(
                events.values == [
                    .pending(next: .seconds(5)), .retrying(next: .seconds(10), reason: "HTTP 503"),
                    .retrying(next: .seconds(20), reason: "HTTP 503"),
                ]
            )
        }
    }

    @Test("a token endpoint that cannot be reached ends the wait with .network after backing off")
    func networkFailure() async throws {
        let clock = VirtualClock()
        try await withFakeServer(clock: clock, script: { _, _ in .pending }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let signIn = try await client.startSignIn()
            // The token endpoint is on the server's own origin (the client polls no other), so the
            // server goes away between the start and the first poll.
            await server.stop()
            do {
                _ = try await client.waitForToken(signIn)  // MUT
                Issue.record("the wait succeeded")
            } catch PortalClientError.network(let error) {
                #expect(error.code == .cannotConnectToHost)
            }
            #expect(clock.sleeps == [5, 10, 20, 40].map { Duration.seconds($0) })
        }
    }

    @Test("printing or dumping a started sign-in never shows the device code")
    func deviceCodeRedacted() async throws {
        try await withFakeServer(clock: VirtualClock(), script: { _, _ in .pending }) { server in
            let signIn = try await PortalClient(server: server.url, clientID: "desktop").startSignIn()
            var dumped = ""
            dump(signIn, to: &dumped)
            for text in [String(describing: signIn), String(reflecting: signIn), dumped] {
                #expect(text.contains("BCDF-GHJK"))
                #expect(!text.contains("fake-device-code"), "\(text)")
            }
        }
    }

    @Test("an unreachable server fails the start with .network")
    func unreachable() async throws {
        let client = PortalClient(server: URL(string: "http://127.0.0.1:\(try deadPort())")!, clientID: "desktop")
        do {
            _ = try await client.startSignIn()  // MUT
            Issue.record("the start succeeded")
        } catch PortalClientError.network(let error) {
            #expect(error.code == .cannotConnectToHost)
        }
    }

    @Test("metadata naming another issuer is refused (RFC 8414 §3.3)")
    func issuerMismatch() async throws {
        try await withFakeServer(
            .init(issuer: "https://portal.example.com"),
            clock: VirtualClock(),
            script: { _, _ in .pending }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop")
            await #expect {
                try await client.startSignIn()  // MUT
            } throws: { error in
                guard case PortalClientError.discovery(let problem) = error else { return false }
                return problem.contains("https://portal.example.com")
            }
        }
    }
}

/// Cancelling the task that waits. "At once" is measured against waits far longer than any
/// scheduling delay of a loaded machine: a wait of an hour, a request held for 30 s.
@Suite("Client: cancelling the wait")
struct CancelPollingTests {
    @Test("cancelled between polls, the wait ends at once and no further poll reaches the server")
    func betweenPolls() async throws {
        try await withFakeServer(clock: SystemPollingClock(), script: { _, _ in .pending }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: StalledClock())
            let signIn = try await client.startSignIn()
            let waiting = Task { try await client.waitForToken(signIn) }
            try await eventually("the first poll") { server.polls.count == 1 }
            let clock = ContinuousClock()
            let cancelledAt = clock.now

            waiting.cancel()  // MUT

            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(clock.now - cancelledAt < .seconds(10))
            try await Task.sleep(for: .seconds(1))
            #expect(server.polls.count == 1)
        }
    }

    @Test("cancelled while a poll is in flight, the wait ends at once, without waiting for the answer")
    func duringPoll() async throws {
        let settings = FakeTokenServer.Settings(interval: 1)
        try await withFakeServer(settings, clock: SystemPollingClock(), script: { _, _ in .hang }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop")
            let signIn = try await client.startSignIn()
            let waiting = Task { try await client.waitForToken(signIn) }
            try await eventually("the first poll") { server.polls.count == 1 }
            let clock = ContinuousClock()
            let cancelledAt = clock.now

            waiting.cancel()  // MUT

            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(clock.now - cancelledAt < .seconds(10))
            server.release()
            try await Task.sleep(for: .seconds(2))
            #expect(server.polls.count == 1)
        }
    }

    @Test("a cancellation racing the answer never hangs the task", .timeLimit(.minutes(1)))
    func cancelRacesAnswer() async throws {
        try await withFakeServer(clock: SystemPollingClock(), script: { _, _ in .pending }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop")
            for attempt in 0..<300 {
                let request = Task { try await client.metadata() }
                try await Task.sleep(for: .microseconds(attempt % 40 * 50))

                request.cancel()  // MUT

                _ = try? await request.value
            }
        }
    }
}

/// Real time, except that the first wait is skipped and every later one lasts an hour: a
/// poller that sleeps through a cancellation never ends, one that polls on would poll at once.
struct StalledClock: PollingClock {
    private let clock = SystemPollingClock()
    private let waits = Recorder<Duration>()

    func now() -> Duration { clock.now() }

    func sleep(for duration: Duration) async throws {
        waits.append(duration)
        if waits.values.count > 1 { try await Task.sleep(for: .seconds(3_600)) }
    }
}
