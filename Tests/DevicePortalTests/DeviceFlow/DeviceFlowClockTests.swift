import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// The device flow reads time from the application's clock: a test moves it instead of
/// editing rows.
@Suite("The device flow on the application's clock")
struct DeviceFlowClockTests {
    @Test("the interval, the code's expiry and the token's lifetime follow the clock")
    func timeMoves() async throws {
        try await withPortal({ $0.deviceCodeTTL = 600 }) { app in
            let clock = MovableClock()
            app.clock = clock
            let (ada, acme, client) = try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.requestCode()
            #expect(try await desktop.poll(code.deviceCode).oauthError == "authorization_pending")
            #expect(try await desktop.poll(code.deviceCode).oauthError == "slow_down")
            clock.advance(by: 11)  // MUT: past the grown interval of 10 s
            #expect(try await desktop.poll(code.deviceCode).oauthError == "authorization_pending")
            clock.advance(by: 600)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "expired_token")

            let token = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            #expect(try await desktop.me(token).status == .ok)
            clock.advance(by: TimeInterval(app.config.tokenTTL) + 1)
            #expect(try await desktop.me(token).status == .unauthorized)
        }
    }
}
