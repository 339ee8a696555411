import DevicePortalClient
import Foundation
import Testing
import VaporTesting

/// What every request names as its software, which the approval page shows to the person.
@Suite("Client: User-Agent")
struct ClientUserAgentTests {
    /// `name/version (system)`, the system as this machine names it.
    static func expected(_ product: String) -> String {
        #if os(Linux)
            "\(product) (Linux)"
        #else
            PortalClient.userAgent(product: product)
        #endif
    }

    @Test("every request of the library says DevicePortalClient/<version> (<system>)")
    func libraryDefault() async throws {
        let clock = VirtualClock()
        try await withFakeServer(clock: clock, script: { _, _ in .approved }) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock)

            let signedIn = try await client.waitForToken(try await client.startSignIn())  // MUT
            _ = try await client.me(signedIn.token)  // MUT
            try await client.signOut(signedIn.token)  // MUT

            #expect(
                server.requests.map(\.path) == [
                    "/.well-known/oauth-authorization-server", "/auth/device/code", "/auth/device/token", "/me",
                    "/.well-known/oauth-authorization-server", "/auth/token/revoke",
                ]
            )
            #expect(
                server.requests.allSatisfy {
                    $0.userAgent == Self.expected("DevicePortalClient/\(PortalClient.version)")
                }
            )
            #expect(
                PortalClient.defaultUserAgent.wholeMatch(
                    of: /DevicePortalClient\/[0-9]+\.[0-9]+\.[0-9]+ \((Linux|macOS [0-9]+\.[0-9]+(\.[0-9]+)?)\)/
                )
                    != nil
            )
        }
    }

    @Test(
        "an app names its own software; what cannot go in a header is dropped, and nothing left means the default",
        arguments: [
            (PortalClient.userAgent(product: "acme-desktop/2.3"), ClientUserAgentTests.expected("acme-desktop/2.3")),
            ("acme/1\r\nX-Injected: yes\u{7}", "acme/1X-Injected: yes"), ("café/1 ☕", "caf/1"),
            ("\r\n \u{1b}", PortalClient.defaultUserAgent), ("", PortalClient.defaultUserAgent),
        ]
    )
    func appUserAgent(given: String, sent: String) async throws {
        let clock = VirtualClock()
        try await withFakeServer(clock: clock) { server in
            let client = PortalClient(server: server.url, clientID: "desktop", clock: clock, userAgent: given)

            _ = try await client.startSignIn()  // MUT

            #expect(client.userAgent == sent)
            #expect(server.requests.count == 2)
            #expect(server.requests.allSatisfy { $0.userAgent == sent })
        }
    }
}
