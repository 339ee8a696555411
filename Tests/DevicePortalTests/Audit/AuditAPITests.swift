import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("The audit log")
struct AuditAPITests {
    @Test("newest first, a page at a time, with no event twice or missed")
    func pagination() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            // Four member.added events exist from the cast; add role changes for more.
            for role in ["viewer", "member", "viewer"] {
                _ = try await cast.call(
                    .PUT,
                    "/api/orgs/acme/members/\(cast.id("viewer"))",
                    as: "owner",
                    json: #"{"role": "\#(role)"}"#
                )
            }
            let total = try await AuditEvent.query(on: app.db).filter(\.$organizationID == cast.acme.id).count()
            var seen: [UUID] = []
            var before: String? = nil
            var pages = 0
            repeat {
                let query = "limit=2" + (before.map { "&before=\($0)" } ?? "")
                let page = try await cast.call(.GET, "/api/orgs/acme/audit?\(query)", as: "admin")  // MUT
                #expect(page.status == .ok)
                let answer = try page.decoded(as: AuditAPIController.AuditPage.self)
                #expect(answer.items.count <= 2)
                seen += answer.items.map(\.id)
                before = answer.nextBefore
                pages += 1
            } while before != nil && pages < 20
            #expect(seen.count == total)
            #expect(Set(seen).count == total)
            let times = try await AuditEvent.query(on: app.db).filter(\.$organizationID == cast.acme.id)
                .sort(\.$occurredAt, .descending).all().map { $0.id! }
            #expect(Set(times) == Set(seen))
        }
    }

    @Test("filters by user and by kind; other orgs' events never show")
    func filters() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            _ = try await cast.call(
                .PUT,
                "/api/orgs/acme/members/\(cast.id("viewer"))",
                as: "owner",
                json: #"{"role": "member"}"#
            )
            let byKind = try await cast.call(.GET, "/api/orgs/acme/audit?kind=member.role_changed", as: "owner")
            let items = try byKind.decoded(as: AuditAPIController.AuditPage.self).items
            #expect(items.count == 1)
            let roleChange = try #require(items.first)
            #expect(roleChange.details == ["from": "viewer", "to": "member"])
            #expect(roleChange.actor.label == "owner@acme.example")
            let byUser = try await cast.call(.GET, "/api/orgs/acme/audit?user=\(cast.id("viewer"))", as: "owner")
            let userItems = try byUser.decoded(as: AuditAPIController.AuditPage.self).items
            #expect(userItems.count == 2)  // added, then re-roled
            let all = try await cast.call(.GET, "/api/orgs/acme/audit", as: "owner")
                .decoded(as: AuditAPIController.AuditPage.self).items
            #expect(!all.contains { $0.subject?.label == "owner@globex.example" })
            for bad in [
                "limit=0", "limit=101", "limit=x", "kind=nope", "user=nobody", "before=garbage",
                "before=\(UUID().uuidString)",
            ] {
                #expect(
                    try await cast.call(.GET, "/api/orgs/acme/audit?\(bad)", as: "owner").status == .badRequest,
                    "\(bad)"
                )
            }
        }
    }

    @Test("the device flow and sign-in leave one event per action")
    func deviceFlowEvents() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            _ = try await desktop.poll(code.deviceCode)
            _ = try await Browser(app: app).signIn(password: "wrong password")
            let kinds = try await AuditEvent.query(on: app.db).all().map(\.kind)
            for kind in [AuditEvent.Kind.deviceCodeIssued, .deviceApproved, .tokenIssued, .signInFailed, .memberAdded] {
                #expect(kinds.filter { $0 == kind }.count == 1, "\(kind)")
            }
            #expect(kinds.filter { $0 == .signInSucceeded }.count == 1)
            let approved = try #require(
                try await AuditEvent.query(on: app.db).filter(\.$kind == .deviceApproved).first()
            )
            #expect(approved.organizationID != nil)
            #expect(approved.actor == "ada@example.com")
        }
    }
}
