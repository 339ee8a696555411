import Fluent
import Foundation
import PortalDatabase
import SQLKit
import Testing
import VaporTesting

@testable import DevicePortal

/// On PostgreSQL the guard calls `portal_api_token_principal`, a PL/pgSQL function whose plan each
/// server connection keeps; on SQLite it runs the join. Either way it must read the token's
/// *current* membership and role on every request, with prepared statements or without.
@Suite("The guard's API-token look-up: the same row as the join, current on every request")
struct APITokenLookupFunctionTests {
    /// Every column the look-up reads (snake case in SQL), as the guard decodes them.
    struct LookupRow: Decodable, Equatable {
        let tokenId: UUID
        let expiresAt: Date
        let revokedAt: Date?
        let lastUsedAt: Date?
        let userId: UUID
        let email: String
        let userName: String
        let organizationId: UUID
        let slug: String
        let organizationName: String
        let roleName: String?
        let permissions: String?
    }

    @Test(
        "a role change and a removal count on the very next request, prepared statements on or off",
        arguments: [true, false]
    )
    func currentMembership(prepared: Bool) async throws {
        try await withPortal({ $0.databasePreparedStatements = prepared }) { app in
            let fixtures = Fixtures(app: app)
            let (user, organization, client) = try await fixtures.standardCast(role: "viewer")
            let token = try await fixtures.token(for: user, in: organization, client: client)
            let desktop = DesktopApp(app: app)
            // More than five calls: PL/pgSQL then plans the query once for all later calls.
            for _ in 0..<8 {
                #expect(try await desktop.me(token).decoded(as: MeController.Me.self).role.name == "viewer")
            }
            let analyst = Role(name: "analyst", permissions: [.queriesRun], organizationID: organization.id)
            try await analyst.create(on: app.db)
            try await fixtures.setRole(of: user, in: organization, to: analyst)
            let role = try await desktop.me(token).decoded(as: MeController.Me.self).role  // MUT
            #expect(role.name == "analyst")
            #expect(role.permissions == ["queries:run"])

            try await Membership.query(on: app.db).delete()
            let refused = try await desktop.me(token)  // MUT
            #expect(refused.status == .unauthorized)
            #expect(try refused.oauthErrorBody.errorDescription == APITokenLookup.Failure.notAMember.description)
        }
    }

    @Test(
        "the guard's statement reads what the join reads: member, used, revoked, no longer a member, unknown",
        arguments: [true, false]
    )
    func sameRowAsJoin(prepared: Bool) async throws {
        try await withPortal({ $0.databasePreparedStatements = prepared }) { app in
            let fixtures = Fixtures(app: app)
            let (user, acme, client) = try await fixtures.standardCast(role: "member")
            let used = try await fixtures.token(for: user, in: acme, client: client)
            #expect(try await DesktopApp(app: app).me(used).status == .ok)
            let revoked = try await fixtures.token(for: user, in: acme, client: client)
            let stored = try #require(
                try await APIToken.query(on: app.db).filter(\.$tokenHash == OpaqueSecret.hash(revoked)).first()
            )
            stored.revokedAt = Date()
            try await stored.save(on: app.db)
            let globex = try await fixtures.organization("globex", name: "Globex")
            try await fixtures.member(user, of: globex)
            let gone = try await fixtures.token(for: user, in: globex, client: client)
            try await Membership.query(on: app.db).filter(\.$organization.$id == globex.requireID()).delete()

            for token in [used, revoked, gone, OpaqueSecret.hex()] {
                let hash = OpaqueSecret.hash(token)
                let viaGuard = try await APITokenLookup.row(tokenHash: hash, on: app.db, hotPath: app.hotPath)  // MUT
                let viaJoin = try await Self.join(hash, on: app.db)
                #expect(
                    try viaGuard?.decode(model: LookupRow.self, keyDecodingStrategy: .convertFromSnakeCase) == viaJoin
                )
            }
            #expect(try await Self.join(OpaqueSecret.hash(gone), on: app.db)?.roleName == nil)
        }
    }

    /// The join written in `APITokenLookup.Statement.text`, run as it is through SQLKit.
    static func join(_ hash: String, on db: any Database) async throws -> LookupRow? {
        let parts = APITokenLookup.Statement.text.components(separatedBy: "?1")
        try #require(parts.count == 2)
        let query: SQLQueryString = "\(unsafeRaw: parts[0])\(bind: hash)\(unsafeRaw: parts[1])"
        return try await db.sql.raw(query).first(decoding: LookupRow.self, keyDecodingStrategy: .convertFromSnakeCase)
    }
}
