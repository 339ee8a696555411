import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Housekeeping")
struct HousekeepingTests {
    @Test("purges codes a day past expiry, tokens a month past expiry or revocation, dead sessions and old counts")
    func purge() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (user, organization, client) = try await fixtures.standardCast()
            let now = Date()
            let desktop = DesktopApp(app: app)
            for _ in 0..<3 { _ = try await desktop.requestCode() }
            let codes = try await DeviceAuthorization.query(on: app.db).all()
            for (code, expiry) in zip(codes, [-25 * 3600.0, -23 * 3600.0, 600]) {
                code.expiresAt = now.addingTimeInterval(expiry)
                try await code.save(on: app.db)
            }
            for _ in 0..<4 { _ = try await fixtures.token(for: user, in: organization, client: client) }
            let tokens = try await APIToken.query(on: app.db).all()
            tokens[0].expiresAt = now.addingTimeInterval(-31 * 86_400)
            tokens[1].expiresAt = now.addingTimeInterval(-29 * 86_400)
            tokens[2].revokedAt = now.addingTimeInterval(-31 * 86_400)
            for token in tokens { try await token.save(on: app.db) }
            try await RateLimitEvent(bucket: "b", occurredAt: now.addingTimeInterval(-3_700)).create(on: app.db)
            try await RateLimitEvent(bucket: "b", occurredAt: now.addingTimeInterval(-60)).create(on: app.db)
            let browser = Browser(app: app)
            try await browser.signIn()
            let session = try #require(try await WebSession.query(on: app.db).first())
            session.expiresAt = now.addingTimeInterval(-1)
            try await session.save(on: app.db)

            let purged = try await Housekeeping.purge(at: now, on: app.db)  // MUT
            #expect(
                purged
                    == Housekeeping.Purged(
                        expiredUnusedCodes: 2,
                        deviceCodes: 1,
                        expiredTokens: 1,
                        revokedTokens: 1,
                        sessions: 1,
                        rateLimitEvents: 1
                    )
            )
            #expect(try await DeviceAuthorization.query(on: app.db).count() == 2)
            #expect(try await APIToken.query(on: app.db).count() == 2)
            #expect(try await WebSession.query(on: app.db).count() == 0)
            #expect(try await RateLimitEvent.query(on: app.db).filter(\.$bucket == "b").count() == 1)
            #expect(try await Housekeeping.purge(at: now, on: app.db) == Housekeeping.Purged())
        }
    }

    @Test("purges invitations a month past expiry, whatever became of them; younger ones stay")
    func purgesOldInvitations() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            let old = try await cast.invitation("old@example.com")
            let recent = try await cast.invitation("recent@example.com")
            let withdrawn = try await cast.invitation("withdrawn@example.com")
            let now = Date()
            for (id, expiry) in [(old.invitation.id, -31 * 86_400.0), (recent.invitation.id, -29 * 86_400.0)] {
                let row = try #require(try await Invitation.find(id, on: app.db))
                row.expiresAt = now.addingTimeInterval(expiry)
                try await row.save(on: app.db)
            }
            let gone = try #require(try await Invitation.find(withdrawn.invitation.id, on: app.db))
            gone.withdrawnAt = now.addingTimeInterval(-40 * 86_400)
            gone.expiresAt = now.addingTimeInterval(-33 * 86_400)
            try await gone.save(on: app.db)

            let purged = try await Housekeeping.purge(at: now, on: app.db)  // MUT
            #expect(purged?.invitations == 2)
            let left = try await cast.invitationRows().map(\.email)
            #expect(left == ["recent@example.com"])
            #expect(try await Housekeeping.purge(at: now, on: app.db) == Housekeeping.Purged())
        }
    }
}
