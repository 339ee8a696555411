import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// The hand-written form reading of the hot paths (see bench/README.md) against what it replaced.
@Suite("Hand-written form reading")
struct OAuthFormTests {
    @Test(
        "form parameters: percent-encoding, '+' as a space, a repeated name refused (RFC 6749 §3.1), unknown ones ignored"
    )
    func formParameters() throws {
        let form = try #require(
            OAuthForm(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_name=Ann%27s+Mac%2B1"
                    + "&&client_id=first&client_id=second&bare&device_code=&x%5B%5D=1&caf%C3%A9=%C3%A9"
            )
        )  // MUT
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
}
