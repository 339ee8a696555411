import Vapor

/// RFC 8414 authorization server metadata.
enum MetadataController {
    struct Metadata: Content {
        let issuer: String
        let deviceAuthorizationEndpoint: String
        let tokenEndpoint: String
        let revocationEndpoint: String
        let introspectionEndpoint: String
        let jwksURI: String
        let grantTypesSupported: [String]
        let tokenEndpointAuthMethodsSupported: [String]
        let revocationEndpointAuthMethodsSupported: [String]

        enum CodingKeys: String, CodingKey {
            case issuer
            case deviceAuthorizationEndpoint = "device_authorization_endpoint"
            case tokenEndpoint = "token_endpoint"
            case revocationEndpoint = "revocation_endpoint"
            case introspectionEndpoint = "introspection_endpoint"
            case jwksURI = "jwks_uri"
            case grantTypesSupported = "grant_types_supported"
            case tokenEndpointAuthMethodsSupported = "token_endpoint_auth_methods_supported"
            case revocationEndpointAuthMethodsSupported = "revocation_endpoint_auth_methods_supported"
        }
    }

    @Sendable static func show(req: Request) async throws -> Metadata {
        let base = req.application.publicBaseURL
        return Metadata(
            issuer: base,
            deviceAuthorizationEndpoint: base + "/auth/device/code",
            tokenEndpoint: base + "/auth/device/token",
            revocationEndpoint: base + "/auth/token/revoke",
            introspectionEndpoint: base + "/auth/introspect",
            jwksURI: base + "/.well-known/jwks.json",
            grantTypesSupported: [DeviceTokenController.grantType],
            tokenEndpointAuthMethodsSupported: ["none"],
            revocationEndpointAuthMethodsSupported: ["none"]
        )
    }
}
