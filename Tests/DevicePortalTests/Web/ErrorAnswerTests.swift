import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Unknown paths and methods")
struct ErrorAnswerTests {
    @Test("an unknown path is a 404 page for people and JSON under /api")
    func notFound() async throws {
        try await withPortal { app in
            let page = try await app.testing().sendRequest(.GET, "/nowhere")
            #expect(page.status == .notFound)
            #expect(page.headers.contentType == .html)
            let api = try await app.testing().sendRequest(.GET, "/api/nowhere")
            #expect(api.status == .notFound)
            #expect(try api.oauthError == "not_found")
        }
    }

    @Test("a known path asked with another method is 405 with Allow (RFC 9110), JSON or a page")
    func methodNotAllowed() async throws {
        try await withPortal { app in
            let me = try await app.testing().sendRequest(.PATCH, "/me")  // MUT
            #expect(me.status == .methodNotAllowed)
            #expect(me.headers.first(name: .allow) == "GET, HEAD")
            #expect(try me.oauthError == "method_not_allowed")
            let members = try await app.testing().sendRequest(.POST, "/api/orgs/acme/members/\(UUID())")
            #expect(members.status == .methodNotAllowed)
            #expect(members.headers.first(name: .allow) == "DELETE, PUT")
            let page = try await app.testing().sendRequest(.DELETE, "/login")
            #expect(page.status == .methodNotAllowed)
            #expect(page.headers.first(name: .allow) == "GET, HEAD, POST")
            #expect(page.headers.contentType == .html)
            #expect(try await app.testing().sendRequest(.PATCH, "/nowhere/at/all").status == .notFound)
        }
    }
}
