import Fluent
import Foundation
import VaporTesting

@testable import DevicePortal

/// Acme with one member of each built-in role, each holding an API token, plus Globex with
/// its own owner: the cast of the organization tests.
struct OrganizationCast {
    let app: Application
    let acme: Organization
    let globex: Organization
    let users: [String: User]
    let tokens: [String: String]

    static let roles = ["owner", "admin", "member", "viewer"]

    static func make(_ app: Application) async throws -> OrganizationCast {
        let fixtures = Fixtures(app: app)
        let acme = try await fixtures.organization("acme", name: "Acme")
        let globex = try await fixtures.organization("globex", name: "Globex")
        let client = try await fixtures.client()
        var users: [String: User] = [:]
        var tokens: [String: String] = [:]
        for role in roles {
            let user = try await fixtures.user("\(role)@acme.example", name: role.capitalized)
            try await fixtures.member(user, of: acme, as: role)
            users[role] = user
            tokens[role] = try await fixtures.token(for: user, in: acme, client: client)
        }
        let outsider = try await fixtures.user("owner@globex.example", name: "Gus")
        try await fixtures.member(outsider, of: globex, as: "owner")
        users["globex"] = outsider
        tokens["globex"] = try await fixtures.token(for: outsider, in: globex, client: client)
        return OrganizationCast(app: app, acme: acme, globex: globex, users: users, tokens: tokens)
    }

    func id(_ who: String) -> String { users[who]!.id!.uuidString }

    /// A call of the JSON API as `who` (a key of `tokens`), with an optional JSON body.
    func call(
        _ method: HTTPMethod,
        _ path: String,
        as who: String,
        json: String? = nil,
        contentType: String = "application/json"
    ) async throws -> TestingHTTPResponse {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(tokens[who]!)"]
        if json != nil { headers.add(name: .contentType, value: contentType) }
        return try await app.testing().sendRequest(
            method,
            path,
            headers: headers,
            body: json.map { ByteBuffer(string: $0) }
        )
    }

    func auditEvents(_ kind: AuditEvent.Kind) async throws -> [AuditEvent] {
        try await AuditEvent.query(on: app.db).filter(\.$kind == kind).all()
    }
}
