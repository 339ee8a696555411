import Fluent
import Foundation
import VaporTesting

@testable import DevicePortal

/// Seeds users, organizations, memberships and clients directly in the database.
struct Fixtures {
    let app: Application
    static let password = "correct horse battery"

    @discardableResult
    func user(_ email: String = "ada@example.com", name: String = "Ada") async throws -> User {
        let user = User(email: email, name: name, passwordHash: try Bcrypt.hash(Self.password, cost: 4))
        try await user.create(on: app.db)
        return user
    }

    @discardableResult
    func organization(_ slug: String = "acme", name: String = "Acme") async throws -> Organization {
        let organization = Organization(slug: slug, name: name)
        try await organization.create(on: app.db)
        return organization
    }

    func role(_ name: String, in organization: Organization) async throws -> Role {
        try await Role.find(named: name, in: organization.requireID(), on: app.db)!
    }

    func member(_ user: User, of organization: Organization, as roleName: String = "member") async throws {
        let role = try await role(roleName, in: organization)
        try await MemberAdministration.add(
            user,
            to: organization,
            as: role,
            by: .commandLine(in: organization),
            on: app.db
        )
    }

    /// Removes a member as the command line would; returns how many tokens died.
    @discardableResult
    func remove(_ user: User, from organization: Organization) async throws -> Int {
        try await MemberAdministration.remove(user.requireID(), by: .commandLine(in: organization), on: app.db)
    }

    func setRole(of user: User, in organization: Organization, to role: Role) async throws {
        try await MemberAdministration.setRole(
            of: user.requireID(),
            to: role,
            by: .commandLine(in: organization),
            on: app.db
        )
    }

    @discardableResult
    func client(
        _ clientID: String = "desktop",
        name: String = "Acme Desktop",
        confidential: Bool = false
    )
        async throws -> OAuthClient
    {
        let client = OAuthClient(
            clientID: clientID,
            name: name,
            secretHash: confidential ? OpaqueSecret.hash("s") : nil
        )
        try await client.create(on: app.db)
        return client
    }

    /// A user who is a member of an org, and a public client: the usual cast of a test.
    @discardableResult
    func standardCast(role: String = "member") async throws -> (User, Organization, OAuthClient) {
        let user = try await user()
        let organization = try await organization()
        try await member(user, of: organization, as: role)
        return (user, organization, try await client())
    }

    /// An API token minted the way the exchange mints it.
    func token(for user: User, in organization: Organization, client: OAuthClient) async throws -> String {
        try await TokenIssuer.issue(
            user: user,
            organization: organization,
            clientID: client.requireID(),
            deviceAuthorizationID: nil,
            deviceName: "test machine",
            serverTokenTTL: app.config.tokenTTL,
            at: app.clock.now,
            on: app.db
        ).token
    }
}
