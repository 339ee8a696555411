import Vapor

/// `/auth/verify`, any method: the guard's decision as an answer, for a reverse proxy in front
/// of the company's other services (nginx `auth_request`, Traefik `ForwardAuth`, Envoy
/// `ext_authz`, Caddy `forward_auth`). The route sits behind `BearerGuard` like `/me`, so a
/// refusal is the guard's own 401 (with `WWW-Authenticate`), counted and logged the same way.
enum ForwardAuthController {
    /// The methods a proxy forwards a sub-request with.
    static let methods: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .PATCH, .DELETE, .OPTIONS]

    /// 200 with an empty body and who the credential acts as, in headers the proxy hands on to
    /// the upstream; `?permission=P` or `X-Portal-Require-Permission: P` also needs that permission.
    @Sendable static func verify(req: Request) throws -> Response {
        let principal = try req.principal
        if let required = try requiredPermission(req) { try principal.require(required) }
        var headers = HTTPHeaders()
        headers.add(name: "X-Portal-User-Id", value: principal.user.id.uuidString)
        headers.add(name: "X-Portal-User-Email", value: principal.user.email)
        headers.add(name: "X-Portal-Org-Id", value: principal.organization.id.uuidString)
        headers.add(name: "X-Portal-Org-Slug", value: principal.organization.slug)
        headers.add(name: "X-Portal-Role", value: principal.roleName)
        headers.add(
            name: "X-Portal-Permissions",
            value: principal.permissions.sorted().map(\.rawValue).joined(separator: ",")
        )
        headers.add(name: "X-Portal-Credential", value: principal.credential.typeName)
        return Response(status: .ok, headers: headers)
    }

    /// The permission the proxy asks for; a name that is no permission is the proxy's mistake (400).
    private static func requiredPermission(_ req: Request) throws -> Permission? {
        let asked = req.query[String.self, at: "permission"] ?? req.headers.first(name: "X-Portal-Require-Permission")
        guard let asked, !asked.isEmpty else { return nil }
        guard let permission = Permission(rawValue: asked) else {
            throw JSONError.invalidRequest("\(asked.clipped(to: 40)) is not a permission.")
        }
        return permission
    }
}
