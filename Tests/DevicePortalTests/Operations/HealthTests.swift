import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Liveness and readiness")
struct HealthTests {
    @Test("/healthz and /readyz answer 200")
    func health() async throws {
        try await withPortal { app in
            for path in ["/healthz", "/readyz"] {
                let response = try await app.testing().sendRequest(.GET, path)
                #expect(response.status == .ok, "\(path)")
                #expect(try response.decoded(as: HealthController.Status.self).status == "ok")
            }
        }
    }
}
