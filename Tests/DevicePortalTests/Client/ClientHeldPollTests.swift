import Foundation
import Testing
import VaporTesting

@testable import DevicePortal
@testable import DevicePortalClient

/// Polls that ask the server to hold them (RFC 7240 `Prefer: wait`): the pacing the server
/// expects, held or not, the timeout of a held poll, and the instant answer to an approval.
@Suite("Client: held polls (Prefer: wait)")
struct ClientHeldPollTests {
    @Test("every poll asks for wait=25; a server that never holds one gets exact interval pacing")
    func plainServer() async throws {
        let clock = VirtualClock()
        try await withFakeServer(clock: clock, script: { poll, _ in poll < 6 ? .pending : .approved }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let events = Recorder<PollEvent>()

            _ = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT

            #expect(server.pollRequests.map(\.prefer) == Array(repeating: "wait=25", count: 6))
            #expect(server.polls.first == .seconds(5))
            #expect(server.spacing == Array(repeating: .seconds(5), count: 5))
            #expect(events.values == Array(repeating: .pending(next: .seconds(5)), count: 5))
        }
    }

    @Test("after a held answer the next poll still waits the interval from that answer: never slow_down")
    func heldPacing() async throws {
        let clock = VirtualClock()
        let (hold, interval) = (Duration.seconds(25), Duration.seconds(5))
        try await withFakeServer(
            clock: clock,
            script: { poll, times in
                // The portal's rule: a poll sooner than the interval after the previous answer is
                // early. Every answer here comes `hold` after its poll.
                let n = times.count
                if n > 1, times[n - 1] - (times[n - 2] + hold) < interval { return .slowDown }
                return .held(hold, then: poll < 4 ? .pending : .approved)
            }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let events = Recorder<PollEvent>()

            _ = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT

            #expect(server.polls == [5, 35, 65, 95].map { Duration.seconds($0) })
            #expect(server.answers == [30, 60, 90, 120].map { Duration.seconds($0) })
            #expect(server.gapsAfterAnswers == Array(repeating: interval, count: 3))
            #expect(events.values == Array(repeating: .pending(next: interval), count: 3))
        }
    }

    @Test("the wait asked is cut to the code's remaining life, so the wait still ends at expires_in")
    func waitWithinExpiry() async throws {
        let settings = FakeTokenServer.Settings(interval: 5, expiresIn: 12)
        let plain = VirtualClock()
        try await withFakeServer(settings, clock: plain, script: { _, _ in .pending }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: plain)
            let signIn = try await client.startSignIn()
            await #expect(throws: PortalClientError.expired) {
                try await client.waitForToken(signIn)  // MUT
            }
            #expect(server.polls == [.seconds(5), .seconds(10)])
            #expect(server.pollRequests.map(\.prefer) == ["wait=7", "wait=2"])
            #expect(plain.now() == .seconds(12))
        }
        let holding = VirtualClock()
        try await withFakeServer(settings, clock: holding, script: { _, _ in .held(.seconds(7), then: .pending) }) {
            server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: holding)
            let signIn = try await client.startSignIn()
            await #expect(throws: PortalClientError.expired) {
                try await client.waitForToken(signIn)  // MUT
            }
            #expect(server.polls == [.seconds(5)])
            #expect(holding.now() == .seconds(12))
        }
    }

    @Test("a poll held 31 s, longer than any other request may wait, is no network failure", .timeLimit(.minutes(2)))
    func longHoldIsNoTimeout() async throws {
        let settings = FakeTokenServer.Settings(interval: 1)
        try await withFakeServer(
            settings,
            clock: SystemPollingClock(),
            script: { _, _ in .held(.seconds(31), then: .approved) }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop")
            let events = Recorder<PollEvent>()

            let signedIn = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT

            #expect(signedIn.token.value == FakeTokenServer.approvedToken)
            #expect(events.values.isEmpty)
            #expect(server.pollRequests.map(\.prefer) == ["wait=25"])
        }
    }

    @Test(
        "a held poll cut off on the way (504, 502) is a failed poll, and the polls after it ask for no wait",
        arguments: [(504, false), (502, false), (503, true)]
    )
    func cutOff(status: Int, keepsAsking: Bool) async throws {
        let clock = VirtualClock()
        let failure = HTTPResponseStatus(statusCode: status)
        try await withFakeServer(
            clock: clock,
            script: { poll, _ in poll == 1 ? .status(failure) : poll == 2 ? .pending : .approved }
        ) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)
            let events = Recorder<PollEvent>()

            _ = try await client.waitForToken(try await client.startSignIn()) { events.append($0) }  // MUT

            let later: String? = keepsAsking ? "wait=25" : nil
            #expect(server.pollRequests.map(\.prefer) == ["wait=25", later, later])
            #expect(
                events.values == [
                    .retrying(next: .seconds(10), reason: "HTTP \(status)"), .pending(next: .seconds(5)),
                ]
            )
        }
    }

    @Test("what counts as a held poll cut off on the way: a timeout, a lost connection, 502, 504; nothing else")
    func cutOffRule() {
        let network: [(URLError.Code, Bool)] = [
            (.timedOut, true), (.networkConnectionLost, true), (.cannotConnectToHost, false),
            (.notConnectedToInternet, false), (.cannotFindHost, false), (.secureConnectionFailed, false),
        ]
        for (code, cutOff) in network {
            #expect(PortalClient.cutsOffHeldPolls(code) == cutOff, "\(code)")  // MUT
        }
        for (status, cutOff) in [(502, true), (504, true), (500, false), (503, false), (429, false)] {
            #expect(PortalClient.cutsOffHeldPolls(status: status) == cutOff, "\(status)")  // MUT
        }
    }

    @Test("against the portal, an approval made while a poll is held ends the wait at once")
    func approvalDuringHold() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 5 }) { app, server in
            try await Fixtures(app: app).standardCast()
            let client = PortalClient(server: server, clientID: "desktop")
            let signIn = try await client.startSignIn()
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")
            try await browser.post("/auth/device", [("user_code", signIn.userCode)])
            let events = Recorder<PollEvent>()
            let clock = ContinuousClock()
            let waiting = Task {
                let signedIn = try await client.waitForToken(signIn) { events.append($0) }
                return (signedIn, clock.now)
            }
            try await eventually(timeout: .seconds(30), "the held first poll") { app.heldPolls.count == 1 }
            try await Task.sleep(for: .milliseconds(500))
            let approving = clock.now
            let page = try await browser.post(
                "/auth/device/confirm",
                [("user_code", signIn.userCode), ("org", "acme"), ("action", "approve")]
            )
            let approved = clock.now  // the approval is committed, the page says so
            #expect(page.text.contains("Device connected"))

            let (signedIn, arrived) = try await waiting.value  // MUT

            // Measured from the page (the approval's own request can be slow on a loaded
            // machine); the token may even come first. Plain polling would bring it at the next
            // poll, 4.5 s after the approval began, and the first poll would be answered pending.
            print(
                "approval to token: \(arrived - approving) from the approval's request, \(arrived - approved) from its page"
            )
            #expect(arrived - approved < .milliseconds(1_500), "\(arrived - approved)")
            #expect(signedIn.user.email == "ada@example.com")
            // The first poll, held, brought the token: no poll was answered pending.
            #expect(events.values.isEmpty)
        }
    }
}
