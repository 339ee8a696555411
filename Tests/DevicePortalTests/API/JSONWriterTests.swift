import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// The hand-written JSON of the hot paths (see bench/README.md) against what it replaced.
@Suite("Hand-written JSON")
struct JSONWriterTests {
    @Test("/me's JSON is what JSONEncoder wrote, escapes included, token_id left out for sessions")
    func meJSON() throws {
        let user = UserDTO(id: UUID(), email: "a\"b\\c@example.com", name: "Ann\n\t\u{1}é😀 </script>")
        let organization = OrganizationDTO(id: UUID(), slug: "acme", name: "Acme \"Ltd\"")
        for tokenID in [UUID(), nil] {
            let me = MeController.Me(
                user: user,
                organization: organization,
                role: .init(name: "owner", permissions: ["members:read", "members:manage"]),
                auth: .init(
                    type: tokenID == nil ? "session" : "api_token",
                    tokenID: tokenID,
                    expiresAt: "2030-01-02T03:04:05Z"
                )
            )
            let handWritten = try JSONSerialization.jsonObject(with: Data(me.json.text.utf8)) as? NSDictionary  // MUT
            let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(me)) as? NSDictionary
            #expect(handWritten != nil)
            #expect(handWritten == encoded)
        }
    }

    @Test("an OAuth error's body is the RFC 6749 shape, escaped")
    func errorJSON() throws {
        let response = JSONError.invalidRequest("Parameter \"x\" is \\ wrong.").response()  // MUT
        let body = try #require(response.body.data)
        let json = try JSONDecoder().decode([String: String].self, from: body)
        #expect(json == ["error": "invalid_request", "error_description": "Parameter \"x\" is \\ wrong."])
        #expect(response.headers.first(name: .contentType) == "application/json; charset=utf-8")
        #expect(response.headers.first(name: .cacheControl) == "no-store")
    }
}
