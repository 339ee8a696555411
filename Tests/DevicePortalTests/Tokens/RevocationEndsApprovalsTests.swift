import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// A code approved and not yet exchanged is about to become a token: every revocation ends it
/// too, and a refused exchange is final.
@Suite("Revocation ends approved, unexchanged device codes")
struct RevocationEndsApprovalsTests {
    /// Each way of ending someone's access, run after ada approved a code for acme.
    enum Path: String, CaseIterable {
        case signOutAllDevices, signOutOneDevice, myTokensAPI, revokeTokensCommand, memberRemoval
        case adminRevokesTokens, deviceSignInTurnedOff
    }

    @Test(
        "every revocation path denies the approved code: its poll gets access_denied, and no token",
        arguments: Path.allCases
    )
    func everyPath(_ path: Path) async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            let existing = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            let admin = try Administrator.commandLine(in: acme)

            switch path {  // MUT
            case .signOutAllDevices:
                let browser = Browser(app: app)
                try await browser.signIn()
                try await browser.get("/settings/devices")
                let page = try await browser.post("/settings/devices/revoke-all", [])
                #expect(page.status == .seeOther, "\(page.text)")
            case .signOutOneDevice:
                let revoked = try await app.testing().sendRequest(
                    .POST,
                    "/auth/token/revoke",
                    headers: formHeaders,
                    body: formBody([("token", existing)])
                )
                #expect(revoked.status == .ok)
            case .myTokensAPI:
                let id = try #require(try await APIToken.query(on: app.db).first()?.id)
                let deleted = try await app.testing().sendRequest(
                    .DELETE,
                    "/api/me/tokens/\(id)",
                    headers: ["Authorization": "Bearer \(existing)"]
                )
                #expect(deleted.status == .noContent)
            case .revokeTokensCommand:
                _ = try await runCommand(app, "revoke-tokens", ["--email", ada.email])
            case .memberRemoval:
                try await Fixtures(app: app).remove(ada, from: acme)
            case .adminRevokesTokens:
                _ = try await MemberAdministration.revokeTokens(of: ada.requireID(), by: admin, on: app.db)
            case .deviceSignInTurnedOff:
                try await OrganizationSettings.update(
                    acme,
                    to: .init(deviceSignIn: false, tokenTTL: nil),
                    serverTokenTTL: 3_600,
                    by: admin,
                    on: app.db
                )
            }

            let authorization = try #require(try await DeviceAuthorization.query(on: app.db).first())
            #expect(authorization.status == .denied)
            let poll = try await desktop.poll(code.deviceCode)
            #expect(poll.status == .badRequest)
            #expect(try poll.oauthError == "access_denied")
            #expect(try await APIToken.query(on: app.db).filter(\.$deviceAuthorization.$id != nil).count() == 0)
            if path == .deviceSignInTurnedOff {
                // Existing tokens keep working: only codes not yet exchanged end.
                #expect(try await desktop.me(existing).status == .ok)
            } else {
                #expect(try await desktop.me(existing).status == .unauthorized)
            }
        }
    }

    @Test("an exchange refused because the approver left stays refused after they are added back")
    func removedThenReAdded() async throws {
        try await withPortal { app in
            let (ada, acme, _) = try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            // The membership goes without the revocation (as a database restore or a bug might):
            // the exchange's own check must refuse, and for good.
            try await Membership.query(on: app.db).filter(\.$user.$id == ada.requireID()).delete()
            #expect(try await desktop.poll(code.deviceCode).oauthError == "access_denied")  // MUT
            try await Fixtures(app: app).member(ada, of: acme)
            try await rewindPolls(app)
            let again = try await desktop.poll(code.deviceCode)
            #expect(try again.oauthError == "access_denied")
            #expect(try await APIToken.query(on: app.db).count() == 0)
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.status == .denied)
        }
    }

    @Test("an exchange refused by the org's policy stays refused after device sign-in is turned back on")
    func policyOffThenOn() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            acme.deviceSignIn = false
            try await acme.save(on: app.db)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "access_denied")  // MUT
            acme.deviceSignIn = true
            try await acme.save(on: app.db)
            try await rewindPolls(app)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "access_denied")
            #expect(try await APIToken.query(on: app.db).count() == 0)
        }
    }

    @Test("a removal racing the exchange never leaves the removed member a live token")
    func removalRacesExchange() async throws {
        try await withPortal { app in
            let (ada, acme, _) = try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            for round in 0..<8 {
                let code = try await desktop.decidedCode()
                async let poll = desktop.poll(code.deviceCode)
                async let removal = Fixtures(app: app).remove(ada, from: acme)  // MUT
                let (answer, _) = try await (poll, removal)
                #expect(
                    answer.status == .ok || (try? answer.oauthError) == "access_denied",
                    "round \(round): \(answer.text)"
                )
                let live = try await APIToken.query(on: app.db).filter(\.$user.$id == ada.requireID())
                    .filter(\.$revokedAt == nil).count()
                #expect(live == 0, "round \(round): a token outlived the removal")
                try await Fixtures(app: app).member(ada, of: acme)
            }
        }
    }

    @Test(
        "issuing, approving and denying a code happen with their audit event or not at all",
        arguments: ["issue", "approve", "deny"]
    )
    func auditInsideTheAction(_ action: String) async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let (code, browser) = try await desktop.codeAndSignedInBrowser()
            // The audit log cannot be written to: the action must not happen without its event.
            try await app.db.sql.raw("ALTER TABLE audit_events RENAME TO audit_events_away").run()
            switch action {  // MUT
            case "issue":
                await #expect(throws: TestFailure.self) { try await desktop.requestCode() }
            default:
                _ = try await browser.approve(code.userCode, action: action)
            }
            try await app.db.sql.raw("ALTER TABLE audit_events_away RENAME TO audit_events").run()
            let statuses = try await DeviceAuthorization.query(on: app.db).all().map(\.status)
            #expect(statuses == [.pending])
        }
    }
}
