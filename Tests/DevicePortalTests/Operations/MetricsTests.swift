import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// `/metrics`: who may read it, that every counter moves with its event, and that no label
/// carries a secret or an unbounded value.
@Suite("Metrics")
struct MetricsTests {
    static let metricsToken = "metrics-token-0123456789"

    /// The samples of one scrape: `name{labels}` → value.
    struct Scrape {
        let text: String
        let samples: [String: Double]

        init(_ text: String) {
            self.text = text
            var samples: [String: Double] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
                else { continue }
                samples[String(line[..<space])] = value
            }
            self.samples = samples
        }

        subscript(_ series: String) -> Double { samples[series] ?? 0 }

        /// Every (label, value) pair of every sample.
        var labels: [(String, String)] {
            samples.keys.flatMap { series -> [(String, String)] in
                guard let open = series.firstIndex(of: "{") else { return [] }
                return series[series.index(after: open)..<series.index(before: series.endIndex)]
                    .matches(of: /([a-z_]+)="([^"]*)"/).map { (String($0.1), String($0.2)) }
            }
        }
    }

    static func scrape(_ app: Application) async throws -> Scrape {
        let response = try await app.testing().sendRequest(
            .GET,
            "/metrics",
            headers: ["Authorization": "Bearer \(metricsToken)"]
        )
        #expect(response.status == .ok)
        return Scrape(response.text)
    }

    static func record(of token: String, on db: any Database) async throws -> APIToken? {
        try await APIToken.query(on: db).filter(\.$tokenHash == OpaqueSecret.hash(token)).first()
    }

    static func withMetricsPortal(_ test: (Application) async throws -> Void) async throws {
        try await withPortal({ $0.metricsToken = metricsToken }, test)
    }

    @Test("METRICS_TOKEN is required when set; without it only a direct loopback peer is answered")
    func protection() async throws {
        try await Self.withMetricsPortal { app in
            #expect(try await app.testing().sendRequest(.GET, "/metrics").status == .unauthorized)
            let wrong = try await app.testing().sendRequest(
                .GET,
                "/metrics",
                headers: ["Authorization": "Bearer \(Self.metricsToken)x"]
            )
            #expect(wrong.status == .unauthorized)
            let right = try await app.testing().sendRequest(
                .GET,
                "/metrics",
                headers: ["Authorization": "Bearer \(Self.metricsToken)"]
            )
            #expect(right.status == .ok)
            #expect(right.headers.first(name: .contentType) == "text/plain; version=0.0.4; charset=utf-8")
            #expect(right.text.contains("# TYPE portal_http_requests_total counter"))
        }
        try await withPortal { app in
            // In memory there is no peer at all: not loopback.
            #expect(try await app.testing().sendRequest(.GET, "/metrics").status == .forbidden)
            let network = try app.testing(method: .running(hostname: "127.0.0.1", port: 0))
            #expect(try await network.sendRequest(.GET, "/metrics").status == .ok)
            // A proxy on the same host relays outsiders from 127.0.0.1: not a direct peer.
            for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
                let relayed = try await network.sendRequest(.GET, "/metrics", headers: [header: "203.0.113.9"])
                #expect(relayed.status == .forbidden, "\(header)")
            }
        }
        // A proxy on this host that adds no header: its address is a trusted proxy's, not a direct peer.
        let loopback = try #require(IPRange("127.0.0.1"))
        try await withPortal({ $0.trustedProxies = [loopback] }) { app in
            let network = try app.testing(method: .running(hostname: "127.0.0.1", port: 0))
            #expect(try await network.sendRequest(.GET, "/metrics").status == .forbidden)
        }
    }

    @Test("the device-flow funnel, tokens issued, rate-limit refusals and requests by route are counted")
    func funnel() async throws {
        try await Self.withMetricsPortal { app in
            let fixtures = Fixtures(app: app)
            try await fixtures.standardCast()
            let desktop = DesktopApp(app: app)
            let before = try await Self.scrape(app)

            let approved = try await desktop.decidedCode(action: "approve")
            #expect(try await desktop.poll(approved.deviceCode).status == .ok)
            _ = try await desktop.decidedCode(action: "deny")
            _ = try await desktop.requestCode()  // left pending
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")
            for _ in 0..<6 { try await browser.post("/auth/device", [("user_code", "BCDF-GHJK")]) }
            for _ in 0..<6 { try await Browser(app: app).signIn(password: "wrong") }

            let after = try await Self.scrape(app)
            func moved(_ series: String) -> Double { after[series] - before[series] }
            #expect(moved(#"portal_device_flow_total{step="issued"}"#) == 3)
            #expect(moved(#"portal_device_flow_total{step="approved"}"#) == 1)
            #expect(moved(#"portal_device_flow_total{step="denied"}"#) == 1)
            #expect(moved(#"portal_device_flow_total{step="exchanged"}"#) == 1)
            #expect(moved("portal_tokens_issued_total") == 1)
            #expect(moved(#"portal_rate_limit_refusals_total{limit="wrong_user_code"}"#) == 1)
            #expect(moved(#"portal_rate_limit_refusals_total{limit="sign_in"}"#) == 1)
            #expect(moved(#"portal_http_requests_total{method="POST",route="/auth/device/code",status="200"}"#) == 3)
            #expect(
                moved(
                    #"portal_http_request_duration_seconds_count{method="POST",route="/auth/device/token",status="200"}"#
                ) == 1
            )
            #expect(after["portal_pending_device_codes"] == 1)
            #expect(after["portal_active_tokens"] == 1)

            // Codes past their expiry without an exchange are counted once, by housekeeping.
            await Housekeeping.round(app, at: Date().addingTimeInterval(Double(app.config.deviceCodeTTL) + 1))
            await Housekeeping.round(app, at: Date().addingTimeInterval(Double(app.config.deviceCodeTTL) + 2))
            let expired = try await Self.scrape(app)
            #expect(expired[#"portal_device_flow_total{step="expired_unused"}"#] == 1)
            #expect(expired["portal_pending_device_codes"] == 1)  // counted by real time, not expired yet
        }
    }

    @Test("revocations are counted by reason, guard refusals by why")
    func revocationsAndRefusals() async throws {
        try await Self.withMetricsPortal { app in
            let cast = try await OrganizationCast.make(app)
            let fixtures = Fixtures(app: app)
            let client = try #require(try await OAuthClient.query(on: app.db).first())
            func freshToken(_ who: String) async throws -> String {
                try await fixtures.token(for: cast.users[who]!, in: cast.acme, client: client)
            }
            let before = try await Self.scrape(app)
            let desktop = DesktopApp(app: app)

            // sign-out: the app revokes its own token
            let signingOut = try await freshToken("member")
            let revoke = try await app.testing().sendRequest(
                .POST,
                "/auth/token/revoke",
                headers: formHeaders,
                body: formBody([("token", signingOut), ("client_id", "desktop")])
            )
            #expect(revoke.status == .ok)
            // user: one of the caller's own tokens
            let ownToken = try #require(try await Self.record(of: try await freshToken("owner"), on: app.db))
            #expect(
                try await cast.call(.DELETE, "/api/me/tokens/\(ownToken.requireID())", as: "owner").status
                    == .noContent
            )
            // admin: all of the admin's tokens (2 now), then member removal: the viewer's 1
            _ = try await freshToken("admin")
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/members/\(cast.id("admin"))/tokens", as: "owner").status
                    == .ok
            )
            #expect(
                try await cast.call(.DELETE, "/api/orgs/acme/members/\(cast.id("viewer"))", as: "owner").status == .ok
            )
            // expiry purge: a token a month past its expiry, never revoked
            let expiring = try await freshToken("member")
            let stale = try #require(try await Self.record(of: expiring, on: app.db))
            stale.expiresAt = Date().addingTimeInterval(-31 * 86_400)
            try await stale.save(on: app.db)

            // guard refusals, one of each reason
            #expect(try await app.testing().sendRequest(.GET, "/me").status == .unauthorized)
            #expect(
                try await app.testing().sendRequest(.GET, "/me", headers: ["Authorization": "Basic eDp5"]).status
                    == .unauthorized
            )
            #expect(try await desktop.me(OpaqueSecret.hex()).status == .unauthorized)  // unknown
            #expect(try await desktop.me(signingOut).status == .unauthorized)  // revoked
            #expect(try await desktop.me(expiring).status == .unauthorized)  // expired
            #expect(try await desktop.me(cast.tokens["viewer"]!).status == .unauthorized)  // revoked with the removal
            let removed = try await fixtures.user("gone@acme.example")
            try await fixtures.member(removed, of: cast.acme)
            let orphan = try await fixtures.token(for: removed, in: cast.acme, client: client)
            try await MembershipTestSupport.deleteMembership(of: removed, in: cast.acme, on: app.db)
            #expect(try await desktop.me(orphan).status == .unauthorized)  // not a member
            await Housekeeping.round(app)

            let after = try await Self.scrape(app)
            func moved(_ series: String) -> Double { after[series] - before[series] }
            #expect(moved(#"portal_tokens_revoked_total{reason="sign_out"}"#) == 1)
            #expect(moved(#"portal_tokens_revoked_total{reason="user"}"#) == 1)
            #expect(moved(#"portal_tokens_revoked_total{reason="admin"}"#) == 2)
            #expect(moved(#"portal_tokens_revoked_total{reason="member_removed"}"#) == 1)
            #expect(moved(#"portal_tokens_revoked_total{reason="expiry_purge"}"#) == 1)
            #expect(moved(#"portal_guard_failures_total{reason="missing"}"#) == 1)
            #expect(moved(#"portal_guard_failures_total{reason="malformed"}"#) == 1)
            #expect(moved(#"portal_guard_failures_total{reason="unknown"}"#) == 1)
            #expect(moved(#"portal_guard_failures_total{reason="revoked"}"#) == 2)
            #expect(moved(#"portal_guard_failures_total{reason="expired"}"#) == 1)
            #expect(moved(#"portal_guard_failures_total{reason="not_a_member"}"#) == 1)
        }
    }

    @Test("no label holds a token, a code, an email or any value outside a fixed set")
    func labelsAreBounded() async throws {
        try await Self.withMetricsPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            let token = try await desktop.exchange(code.deviceCode).accessToken
            #expect(try await desktop.me(token).status == .ok)
            try await Browser(app: app).get("/no/such/\(code.userCode)")
            try await Browser(app: app).get("/css/portal.css")
            let scrape = try await Self.scrape(app)

            for secret in [token, code.deviceCode, code.userCode, "ada@example.com", "ada%40example.com"] {
                #expect(!scrape.text.contains(secret))
            }
            let routes = Set(app.routes.all.map { "/" + $0.path.map(\.description).joined(separator: "/") })
            let allowed: [String: Set<String>] = [
                "route": routes.union(["unrouted"]),
                "step": Set(PortalMetrics.DeviceFlowStep.allCases.map(\.rawValue)),
                "reason": Set(PortalMetrics.RevocationReason.allCases.map(\.rawValue))
                    .union(PortalMetrics.GuardFailure.allCases.map(\.rawValue))
                    .union(PortalMetrics.ExternalJWTRefusal.allCases.map(\.rawValue)),
                "limit": Set(PortalMetrics.Limit.allCases.map(\.rawValue)),
                "method": Set(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
                    .union(PortalMetrics.SignInMethod.allCases.map(\.rawValue)),
                "outcome": Set(["succeeded", "failed"]).union(PortalMetrics.MailFailure.allCases.map(\.rawValue)),
                "provider": Set(IdentityProviderLabel.allCases.map(\.rawValue)),
                "document": Set(PortalMetrics.ProviderDocument.allCases.map(\.rawValue)),
            ]
            #expect(!scrape.labels.isEmpty)
            for (name, value) in scrape.labels {
                switch name {
                case "status": #expect(value.wholeMatch(of: /[1-5][0-9][0-9]/) != nil, "status \(value)")
                case "le": #expect(value == "+Inf" || Double(value) != nil, "le \(value)")
                default: #expect(allowed[name]?.contains(value) == true, "label \(name)=\(value)")
                }
            }
            #expect(scrape[#"portal_http_requests_total{method="GET",route="unrouted",status="404"}"#] == 1)
            #expect(scrape[#"portal_http_requests_total{method="GET",route="unrouted",status="200"}"#] == 1)
        }
    }

    @Test("every response carries X-Request-Id: a sane incoming one is kept, anything else replaced")
    func requestID() async throws {
        try await withPortal { app in
            let fresh = try await app.testing().sendRequest(.GET, "/healthz")
            let generated = try #require(fresh.headers.first(name: .xRequestId))
            #expect(UUID(uuidString: generated) != nil)
            let kept = try await app.testing().sendRequest(.GET, "/me", headers: ["X-Request-Id": "lb-7f3a.42_x"])
            #expect(kept.status == .unauthorized)
            #expect(kept.headers.first(name: .xRequestId) == "lb-7f3a.42_x")
            let odd = try await app.testing().sendRequest(
                .GET,
                "/healthz",
                headers: ["X-Request-Id": "id with spaces\" and quotes"]
            )
            #expect(UUID(uuidString: odd.headers.first(name: .xRequestId) ?? "") != nil)
        }
    }
}
