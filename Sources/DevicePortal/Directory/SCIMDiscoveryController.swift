import Vapor

/// What the portal's SCIM service offers (RFC 7644 §4): `ServiceProviderConfig`,
/// `ResourceTypes` and `Schemas`, true to what `/Users` does.
enum SCIMDiscoveryController {
    @Sendable static func serviceProviderConfig(req: Request) async throws -> Response {
        let unsupported = SCIMValue.object(["supported": .bool(false)])
        return SCIMResponse.make(
            .object([
                "schemas": .array([.string("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig")]),
                "patch": .object(["supported": .bool(true)]),
                "bulk": .object([
                    "supported": .bool(false), "maxOperations": .number(0), "maxPayloadSize": .number(0),
                ]),
                "filter": .object([
                    "supported": .bool(true), "maxResults": .number(Double(SCIMUsersController.maxResults)),
                ]),
                "changePassword": unsupported,
                "sort": unsupported,
                "etag": unsupported,
                "authenticationSchemes": .array([
                    .object([
                        "type": .string("oauthbearertoken"),
                        "name": .string("Directory token"),
                        "description": .string(
                            "Authorization: Bearer <directory token>, made by an owner in the organization's settings."
                        ),
                        "primary": .bool(true),
                    ])
                ]),
                "meta": SCIMRendering.meta(
                    "ServiceProviderConfig",
                    location: SCIMRendering.base(req) + "/ServiceProviderConfig"
                ),
            ])
        )
    }

    /// RFC 7644 §3.4.3 lets a server leave out a search across resource types: 501 (§3.12).
    @Sendable static func searchEverything(req: Request) async throws -> Response {
        throw SCIMError(
            status: .notImplemented,
            scimType: nil,
            detail: "Searching every resource type at once is not supported: use GET /Users?filter=…."
        )
    }

    @Sendable static func resourceTypes(req: Request) async throws -> Response {
        SCIMResponse.make(SCIMRendering.list([userResourceType(req)], total: 1, startIndex: 1))
    }

    @Sendable static func resourceType(req: Request) async throws -> Response {
        guard req.parameters.get("id") == "User" else { throw SCIMError.notFound("There is no such resource type.") }
        return SCIMResponse.make(userResourceType(req))
    }

    @Sendable static func schemas(req: Request) async throws -> Response {
        SCIMResponse.make(SCIMRendering.list([userSchema(req)], total: 1, startIndex: 1))
    }

    @Sendable static func schema(req: Request) async throws -> Response {
        guard req.parameters.get("id") == SCIMSchema.user else { throw SCIMError.notFound("There is no such schema.") }
        return SCIMResponse.make(userSchema(req))
    }

    private static func userResourceType(_ req: Request) -> SCIMValue {
        .object([
            "schemas": .array([.string("urn:ietf:params:scim:schemas:core:2.0:ResourceType")]),
            "id": .string("User"),
            "name": .string("User"),
            "endpoint": .string("/Users"),
            "description": .string("A member of the organization whose directory token is used."),
            "schema": .string(SCIMSchema.user),
            "schemaExtensions": .array([]),
            "meta": SCIMRendering.meta("ResourceType", location: SCIMRendering.base(req) + "/ResourceTypes/User"),
        ])
    }

    private static func userSchema(_ req: Request) -> SCIMValue {
        .object([
            "schemas": .array([.string("urn:ietf:params:scim:schemas:core:2.0:Schema")]),
            "id": .string(SCIMSchema.user),
            "name": .string("User"),
            "description": .string("A member of the organization: userName is the email they sign in with."),
            "attributes": .array(SCIMSchema.userAttributes.map(\.definition)),
            "meta": SCIMRendering.meta("Schema", location: SCIMRendering.base(req) + "/Schemas/" + SCIMSchema.user),
        ])
    }
}
