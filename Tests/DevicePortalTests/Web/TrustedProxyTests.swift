import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Requester addresses behind a proxy")
struct TrustedProxyTests {
    /// Asks for a device code over real TCP from 127.0.0.1, claiming to forward for 203.0.113.9.
    private func requesterIP(trusting proxies: [IPRange]) async throws -> String? {
        var stored: String?
        try await withPortal({ $0.trustedProxies = proxies }) { app in
            try await Fixtures(app: app).client()
            let response = try await app.testing(method: .running(hostname: "127.0.0.1", port: 0)).sendRequest(
                .POST,
                "/auth/device/code",
                headers: ["Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "203.0.113.9"],
                body: formBody([("client_id", "desktop")])
            )
            #expect(response.status == .ok)
            stored = try await DeviceAuthorization.query(on: app.db).first()?.requesterIP
        }
        return stored
    }

    @Test("by default X-Forwarded-For is ignored: the peer is the requester")
    func untrusted() async throws {
        #expect(try await requesterIP(trusting: []) == "127.0.0.1")
    }

    @Test("from a trusted proxy, the forwarded address is the requester")
    func trusted() async throws {
        #expect(try await requesterIP(trusting: [IPRange("127.0.0.0/8")!]) == "203.0.113.9")
    }
}
