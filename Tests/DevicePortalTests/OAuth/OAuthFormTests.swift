import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// The hand-written pieces of the hot paths (see bench/README.md) against what they replaced.
@Suite("Hand-written form reading and JSON")
struct HotPathEncodingTests {
    @Test(
        "form parameters: percent-encoding, '+' as a space, a repeated name refused (RFC 6749 §3.1), unknown ones ignored"
    )
    func formParameters() throws {
        let form = try #require(
            OAuthForm(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_name=Ann%27s+Mac%2B1"
                    + "&&client_id=first&client_id=second&bare&device_code=&x%5B%5D=1&caf%C3%A9=%C3%A9"))  // MUT
        #expect(try form["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code")
        #expect(try form["device_name"] == "Ann's Mac+1")
        #expect(throws: JSONError.self) { try form["client_id"] }
        #expect(try form["device_code"] == "")
        #expect(try form["bare"] == nil)
        #expect(try form["x[]"] == "1")
        #expect(try form["café"] == "é")
        #expect(try form["scope"] == nil)
    }

    @Test("a name or a value that is not percent-encoded UTF-8 cannot be read")
    func badEncoding() throws {
        #expect(OAuthForm("client_id%zz=1") == nil)
        #expect(OAuthForm("%FF=1") == nil)
        let form = try #require(OAuthForm("client_id=%4&device_code=%C3&scope=%ZZ&other=%"))
        #expect(throws: JSONError.self) { try form["client_id"] }
        #expect(throws: JSONError.self) { try form["device_code"] }
        #expect(throws: JSONError.self) { try form["scope"] }
    }

    @Test("Content-Type is a form as HTTPMediaType's == decides")
    func formContentType() {
        for value in [
            "application/x-www-form-urlencoded", "Application/X-WWW-Form-URLEncoded; charset=utf-8",
            " application / x-www-form-urlencoded ", "application/*", "*/*",
        ] {
            #expect(OAuthForm.isForm(contentType: value), "\(value)")
        }
        for value in ["application/json", "text/x-www-form-urlencoded", "application", "", "a/b/c"] {
            #expect(!OAuthForm.isForm(contentType: value), "\(value)")
        }
    }

    @Test("/me's JSON is what JSONEncoder wrote, escapes included, token_id left out for sessions")
    func meJSON() throws {
        let user = UserDTO(id: UUID(), email: "a\"b\\c@example.com", name: "Ann\n\t\u{1}é😀 </script>")
        let organization = OrganizationDTO(id: UUID(), slug: "acme", name: "Acme \"Ltd\"")
        for tokenID in [UUID(), nil] {
            let me = MeController.Me(
                user: user, organization: organization,
                role: .init(name: "owner", permissions: ["members:read", "members:manage"]),
                auth: .init(
                    type: tokenID == nil ? "session" : "api_token", tokenID: tokenID, expiresAt: "2030-01-02T03:04:05Z")
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
        let json = try JSONSerialization.jsonObject(with: body) as? [String: String]
        #expect(json == ["error": "invalid_request", "error_description": "Parameter \"x\" is \\ wrong."])
        #expect(response.headers.first(name: .contentType) == "application/json; charset=utf-8")
        #expect(response.headers.first(name: .cacheControl) == "no-store")
    }
}
