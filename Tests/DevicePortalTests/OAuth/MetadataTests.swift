import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Authorization server metadata (RFC 8414)")
struct MetadataTests {
    @Test("RFC 8414 metadata names the endpoints under PUBLIC_BASE_URL")
    func metadata() async throws {
        try await withPortal({ $0.publicBaseURL = "https://portal.example.com" }) { app in
            let response = try await app.testing().sendRequest(.GET, "/.well-known/oauth-authorization-server")
            #expect(response.status == .ok)
            let json = response.json
            #expect(json["issuer"] as? String == "https://portal.example.com")
            #expect(json["device_authorization_endpoint"] as? String == "https://portal.example.com/auth/device/code")
            #expect(json["token_endpoint"] as? String == "https://portal.example.com/auth/device/token")
            #expect(json["revocation_endpoint"] as? String == "https://portal.example.com/auth/token/revoke")
            #expect(json["grant_types_supported"] as? [String] == [DeviceTokenController.grantType])
        }
    }

    @Test("metadata names the introspection endpoint and the JWKS")
    func introspectionAndJWKS() async throws {
        try await withPortal { app in
            let json = try await app.testing().sendRequest(.GET, "/.well-known/oauth-authorization-server").json
            #expect(json["introspection_endpoint"] as? String == app.publicBaseURL + "/auth/introspect")
            #expect(json["jwks_uri"] as? String == app.publicBaseURL + "/.well-known/jwks.json")
        }
    }
}
