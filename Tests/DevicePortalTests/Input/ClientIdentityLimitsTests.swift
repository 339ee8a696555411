import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// What the per-IP limits count, and the pre-sign-in CSRF cookie over https.
@Suite("Per-IP limits by IPv6 /64; a __Host- CSRF cookie over https")
struct ClientIdentityLimitsTests {
    @Test(
        "an IPv6 address is counted by its /64, an IPv4 address as it is",
        arguments: [
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"), ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
            ("203.0.113.7", "203.0.113.7"), ("::ffff:203.0.113.7", "::ffff:203.0.113.7"), ("not an ip", "not an ip"),
        ]
    )
    func rateLimitKeys(_ address: String, _ key: String) {
        #expect(ClientAddress.rateLimitKey(address) == key)  // MUT
    }

    @Test("addresses of one /64 share the wrong-code limit")
    func sixtyFourSharesALimit() async throws {
        try await withPortal({ $0.trustedProxies = [IPRange("127.0.0.1/8")!, IPRange("::1")!] }) { app in
            try await Fixtures(app: app).client()
            var statuses: [HTTPStatus] = []
            for index in 1...32 {
                let answer = try await app.testing().sendRequest(
                    .POST,
                    "/auth/device/code",
                    headers: [
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Forwarded-For": "2001:db8:7:7::\(String(index, radix: 16))",
                    ],
                    body: formBody([("client_id", "desktop")])
                )  // MUT
                statuses.append(answer.status)
            }
            #expect(statuses.filter { $0 == .ok }.count == 30)
            #expect(statuses.last == .tooManyRequests)
        }
    }

    @Test("over https the sign-in form's cookie is __Host-portal_csrf, Secure, Path=/, and it signs in")
    func hostPrefixedCookie() async throws {
        try await withPortal({ $0.publicBaseURL = "https://portal.example.com" }) { app in
            try await Fixtures(app: app).user()
            let page = try await app.testing().sendRequest(.GET, "/login")  // MUT
            let cookie = try #require(page.headers.setCookie?["__Host-portal_csrf"])
            #expect(cookie.isSecure && cookie.path == "/" && cookie.domain == nil)
            #expect(page.headers.setCookie?["portal_csrf"] == nil)
            let browser = Browser(app: app)
            #expect(try await browser.signIn().status == .seeOther)
        }
    }
}
