import Foundation
import Testing

@testable import DevicePortalClient

@Suite("Client: discovery and answers")
struct DiscoveryTests {
    @Test("the metadata URL puts the well-known segment before the issuer's path (RFC 8414 §3.1)")
    func wellKnownURL() {
        let cases = [
            ("https://portal.example.com", "https://portal.example.com/.well-known/oauth-authorization-server"),
            ("https://portal.example.com/", "https://portal.example.com/.well-known/oauth-authorization-server"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/.well-known/oauth-authorization-server"),
            ("https://example.com/portal", "https://example.com/.well-known/oauth-authorization-server/portal"),
        ]
        for (server, expected) in cases {
            #expect(PortalMetadata.wellKnownURL(for: URL(string: server)!)?.absoluteString == expected)  // MUT
        }
    }

    @Test("the issuer must be the server asked, up to case, default ports and a trailing slash")
    func sameIssuer() {
        func same(_ a: String, _ b: String) -> Bool {
            PortalMetadata.isSameIssuer(URL(string: a)!, URL(string: b)!)  // MUT
        }
        #expect(same("https://Portal.example.com", "https://portal.example.com/"))
        #expect(same("https://portal.example.com:443", "https://portal.example.com"))
        #expect(same("http://127.0.0.1:8080", "http://127.0.0.1:8080"))
        #expect(!same("http://127.0.0.1:8080", "http://localhost:8080"))
        #expect(!same("https://portal.example.com", "http://portal.example.com"))
        #expect(!same("https://evil.example.com", "https://portal.example.com"))
    }

    @Test("a token answer must be a Bearer token; the stored form of a token is the bare string")
    func tokenAnswers() throws {
        let body = """
            {"access_token": "%@", "token_type": "%@", "expires_in": 60,
             "user": {"id": "u", "email": "a@b.c", "name": "A"}, "organization": {"id": "o", "slug": "s", "name": "S"}}
            """
        let bearer = Data(String(format: body, "abc", "bearer").utf8)
        #expect(try JSONDecoder().decode(SignedIn.self, from: bearer).token.value == "abc")
        let mac = Data(String(format: body, "abc", "mac").utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SignedIn.self, from: mac) }
        #expect(String(decoding: try JSONEncoder().encode(AccessToken("abc")), as: UTF8.self) == #""abc""#)
    }

    @Test("form fields are percent-encoded, spaces and all")
    func formEncoding() {
        #expect(
            HTTPExchange.formEncoded([("device_name", "Ada's Mac & co"), ("a", "b=c")])
                == "device_name=Ada%27s%20Mac%20%26%20co&a=b%3Dc"
        )
    }
}
