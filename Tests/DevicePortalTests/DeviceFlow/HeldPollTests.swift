import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// `Prefer: wait=N` on the token endpoint: a pending code's poll is held and answered the moment
/// the code is decided or expires, or after N seconds.
@Suite("Held polls: Prefer: wait")
struct HeldPollTests {
    private func poll(_ app: Application, _ deviceCode: String, wait: Int?) async throws -> TestingHTTPResponse {
        var headers = formHeaders
        if let wait { headers.add(name: "Prefer", value: "wait=\(wait)") }
        return try await app.testing().sendRequest(
            .POST,
            "/auth/device/token",
            headers: headers,
            body: formBody([
                ("grant_type", DeviceTokenController.grantType), ("device_code", deviceCode), ("client_id", "desktop"),
            ])
        )
    }

    @Test(
        "an approval answers the held poll at once, with the token and Preference-Applied",
        arguments: ["approve", "deny"]
    )
    func decisionAnswers(_ action: String) async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            async let held = poll(app, code.deviceCode, wait: 30)  // MUT
            try await Task.sleep(for: .milliseconds(300))
            let decided = try await browser.approve(code.userCode, action: action)
            let decidedAt = ContinuousClock.now
            #expect(decided.status == .ok)
            let answer = try await held
            // Woken, not timed out: soon after the decision, and with the decision's answer (a
            // wait that ran out would say authorization_pending). How long the approval itself
            // takes depends on the machine's load, so only the time after it is measured.
            #expect(ContinuousClock.now - decidedAt < .seconds(5), "answered late after the decision")
            #expect(answer.headers.first(name: "Preference-Applied") == "wait=30")
            if action == "approve" {
                #expect(answer.status == .ok)
                #expect(try answer.decoded(as: DeviceTokenController.TokenResponse.self).accessToken.count == 64)
            } else {
                #expect(try answer.oauthError == "access_denied")
            }
        }
    }

    @Test(
        "without a decision the held poll answers authorization_pending after N seconds; the next poll counts from then"
    )
    func timesOut() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let code = try await DesktopApp(app: app).requestCode()
            let started = ContinuousClock.now
            let answer = try await poll(app, code.deviceCode, wait: 1)  // MUT
            let waited = ContinuousClock.now - started
            #expect(waited >= .milliseconds(900) && waited < .seconds(10))
            #expect(try answer.oauthError == "authorization_pending")
            #expect(answer.headers.first(name: "Preference-Applied") == "wait=1")
            // The held poll was answered just now: a poll at once is early (the interval is 5 s).
            #expect(try await poll(app, code.deviceCode, wait: nil).oauthError == "slow_down")
        }
    }

    @Test("a code that expires while held is answered expired_token when it expires")
    func expiresWhileHeld() async throws {
        try await withPortal({ $0.deviceCodeTTL = 2 }) { app in
            try await Fixtures(app: app).standardCast()
            let code = try await DesktopApp(app: app).requestCode()
            let started = ContinuousClock.now
            let answer = try await poll(app, code.deviceCode, wait: 30)  // MUT
            #expect(ContinuousClock.now - started < .seconds(6))
            #expect(try answer.oauthError == "expired_token")
        }
    }

    @Test("a held poll that comes too early is slow_down at once, as any poll")
    func earlyIsNotHeld() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let code = try await DesktopApp(app: app).requestCode()
            #expect(try await poll(app, code.deviceCode, wait: nil).oauthError == "authorization_pending")
            let started = ContinuousClock.now
            let early = try await poll(app, code.deviceCode, wait: 20)  // MUT
            #expect(try early.oauthError == "slow_down")
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(early.headers.first(name: "Preference-Applied") == nil)
        }
    }

    @Test("past DEVICE_POLL_MAX_HELD a poll is answered at once, without Preference-Applied")
    func limit() async throws {
        try await withPortal({ $0.devicePollMaxHeld = 1 }) { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let first = try await desktop.requestCode()
            let second = try await desktop.requestCode()
            async let held = poll(app, first.deviceCode, wait: 2)
            try await Task.sleep(for: .milliseconds(300))
            #expect(app.heldPolls.count == 1)
            let started = ContinuousClock.now
            let atOnce = try await poll(app, second.deviceCode, wait: 20)  // MUT
            #expect(ContinuousClock.now - started < .seconds(1))
            #expect(try atOnce.oauthError == "authorization_pending")
            #expect(atOnce.headers.first(name: "Preference-Applied") == nil)
            #expect(try await held.headers.first(name: "Preference-Applied") == "wait=2")
            #expect(app.heldPolls.count == 0)
        }
    }

    @Test("held and plain polls of one code together, an approval, then more of both: exactly one token")
    func exactlyOneToken() async throws {
        try await withPortal { app in
            let clock = MovableClock()
            app.clock = clock
            try await Fixtures(app: app).standardCast()
            let (code, browser) = try await DesktopApp(app: app).codeAndSignedInBrowser()
            let burst = { @Sendable () async throws -> [TestingHTTPResponse] in
                try await withThrowingTaskGroup(of: TestingHTTPResponse.self) { group in
                    for index in 0..<12 {
                        group.addTask { try await poll(app, code.deviceCode, wait: index.isMultiple(of: 2) ? 15 : nil) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            async let first = burst()
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await browser.approve(code.userCode).status == .ok)  // MUT
            var answers = try await first
            clock.advance(by: 61)  // past any interval the burst grew
            answers += try await burst()
            #expect(answers.filter { $0.status == .ok }.count == 1)
            #expect(!answers.contains { $0.status.code >= 500 })
            #expect(try await APIToken.query(on: app.db).count() == 1)
        }
    }

    @Test("shutting down answers every held poll at once")
    func shutdownReleases() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let code = try await DesktopApp(app: app).requestCode()
            let started = ContinuousClock.now
            async let held = poll(app, code.deviceCode, wait: 25)
            try await Task.sleep(for: .milliseconds(300))
            app.heldPolls.releaseAll()  // MUT: what GracefulShutdown does first
            let answer = try await held
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(try answer.oauthError == "authorization_pending")
        }
    }

    @Test(
        "Prefer's wait: 1 to 30 s, larger cut to 30, anything else ignored",
        arguments: [
            (["wait=10"], 10), (["respond-async, wait=5"], 5), (["WAIT = 7"], 7), (["wait=\"3\""], 3),
            (["wait=100"], 30),
            (["wait=0"], nil), (["wait=-1"], nil), (["wait=abc"], nil), (["return=minimal"], nil), ([], nil),
            (["wait=99999999999999999999"], nil), (["wait=5; foo=bar"], 5),
        ] as [([String], Int?)]
    )
    func preferParsing(_ headers: [String], _ seconds: Int?) {
        #expect(PreferWait.seconds(in: headers) == seconds)  // MUT
    }
}
