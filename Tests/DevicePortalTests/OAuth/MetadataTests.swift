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
            let metadata = try response.decoded(as: MetadataController.Metadata.self)
            #expect(metadata.issuer == "https://portal.example.com")
            #expect(metadata.deviceAuthorizationEndpoint == "https://portal.example.com/auth/device/code")
            #expect(metadata.tokenEndpoint == "https://portal.example.com/auth/device/token")
            #expect(metadata.revocationEndpoint == "https://portal.example.com/auth/token/revoke")
            #expect(metadata.grantTypesSupported == [DeviceTokenController.grantType])
        }
    }

    @Test("metadata names the introspection endpoint and the JWKS")
    func introspectionAndJWKS() async throws {
        try await withPortal { app in
            let metadata = try await app.testing().sendRequest(.GET, "/.well-known/oauth-authorization-server")
                .decoded(as: MetadataController.Metadata.self)
            #expect(metadata.introspectionEndpoint == app.publicBaseURL + "/auth/introspect")
            #expect(metadata.jwksURI == app.publicBaseURL + "/.well-known/jwks.json")
        }
    }
}
