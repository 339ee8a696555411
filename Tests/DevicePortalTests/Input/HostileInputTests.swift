import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// No input stops the process or earns a 5xx: each hostile shape gets its route's 4xx and
/// changes nothing. Run on SQLite and on PostgreSQL (where NUL used to be a 500).
@Suite("Hostile input gets a 4xx, never a crash or a 5xx")
struct HostileInputTests {
    static let brokenMultipart = [
        "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"", "multipart/form-data",
        "multipart/form-data; boundary=\(String(repeating: "b", count: 71))", "multipart/form-data; boundary=a\u{1}b",
        "multipart/mixed; boundary=", "MULTIPART/FORM-DATA; BOUNDARY=",
    ]

    @Test("multipart to a form route that takes no upload is 415, whatever its boundary", arguments: brokenMultipart)
    func multipartOnForms(_ contentType: String) async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let anonymous = Browser(app: app)
            try await anonymous.get("/login")
            let login = try await anonymous.postRaw("/login", "--\r\n--", contentType: contentType)  // MUT
            #expect(login.status == .unsupportedMediaType)
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")
            let device = try await browser.postRaw("/auth/device", "x", contentType: contentType)
            #expect(device.status == .unsupportedMediaType)
            #expect(device.text.contains("takes no file uploads"))
        }
    }

    @Test("the upload route refuses a missing or broken boundary and malformed parts with 400, and keeps no logo")
    func brokenUploads() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast(role: "owner")
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/orgs/acme/settings")
            let csrf = try #require(browser.csrfToken)
            let cases: [(String, String)] = [
                ("multipart/form-data; boundary=", "--\r\n"),
                ("multipart/form-data; boundary=\(String(repeating: "b", count: 71))", "x"),
                ("multipart/form-data; boundary=abc ", "x"),
                ("multipart/form-data; boundary=abc", "--abc\r\nContent-Disposition form-data\r\n\r\nx\r\n--abc--\r\n"),
                ("multipart/form-data; boundary=abc", "--abc\r\n\u{1}\u{2}:\r\n\r\n"),
                (
                    "multipart/form-data; boundary=abc",
                    "--abc\r\nContent-Disposition: form-data; name=\"logo\"\r\n\r\nxx"
                ),
            ]
            for (contentType, body) in cases {
                let answer = try await browser.postRaw(
                    "/orgs/acme/logo?csrf_token=\(csrf)",
                    body,
                    contentType: contentType
                )  // MUT
                #expect(
                    answer.status.code >= 400 && answer.status.code < 500,
                    "\(contentType) \(body.debugDescription)"
                )
            }
            #expect(try await OrganizationLogo.query(on: app.db).count() == 0)
        }
    }

    @Test("NUL, invalid UTF-8 and raw bytes in a page form are a 400 page")
    func pageForms() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            for body in ["email=a%00b&password=x", "email=%FF&password=x", "email=a\u{1}b&password=x", "email=é"] {
                let browser = Browser(app: app)
                try await browser.get("/login")
                let answer = try await browser.postRaw(
                    "/login",
                    body + "&csrf_token=\(browser.csrfToken ?? "")",
                    contentType: "application/x-www-form-urlencoded"
                )  // MUT
                #expect(answer.status == .badRequest, "\(body)")
                #expect(answer.headers.contentType == .html)
            }
        }
    }

    @Test("NUL and invalid UTF-8 in any OAuth parameter are invalid_request", arguments: ["%00", "%FF", "a%0"])
    func oauthParameters(_ bad: String) async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let requests: [(String, String)] = [
                ("/auth/device/code", "client_id=desktop\(bad)"),
                ("/auth/device/code", "client_id=desktop&device_name=laptop\(bad)"),
                (
                    "/auth/device/token",
                    "grant_type=\(DeviceTokenController.grantType)&client_id=desktop&device_code=x\(bad)"
                ),
                ("/auth/token/revoke", "token=\(String(repeating: "a", count: 63))\(bad)"),
                ("/auth/introspect", "token=x\(bad)"),
            ]
            for (path, body) in requests {
                let answer = try await app.testing().sendRequest(
                    .POST,
                    path,
                    headers: formHeaders,
                    body: ByteBuffer(string: body)
                )  // MUT
                #expect(answer.status.code >= 400 && answer.status.code < 500, "\(path) \(body)")
                #expect(try !answer.oauthError.isEmpty, "\(path) \(body)")
            }
            #expect(try await DeviceAuthorization.query(on: app.db).count() == 0)
        }
    }

    @Test("a form is split on the byte &, even before a combining mark")
    func splitOnBytes() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let answer = try await app.testing().sendRequest(
                .POST,
                "/auth/device/code",
                headers: formHeaders,
                body: ByteBuffer(string: "client_id=desktop&\u{301}device_name=x")
            )  // MUT
            #expect(answer.status == .ok)
        }
    }

    @Test("NUL, control characters or invalid UTF-8 in a path or a query are a 400 in the route's shape")
    func pathsAndQueries() async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast(role: "owner")
            let token = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            let bearer: HTTPHeaders = ["Authorization": "Bearer \(token)"]
            for path in [
                "/api/orgs/%00/members", "/api/orgs/acme/members/%00", "/api/me/tokens/%FF", "/api/orgs/a%0Ab/roles",
                "/api/orgs/acme/audit?user=%00", "/api/orgs/acme/audit?kind=%FF", "/api/orgs/acme/audit?before=%0D%0A",
            ] {
                let answer = try await app.testing().sendRequest(.GET, path, headers: bearer)  // MUT
                #expect(answer.status == .badRequest, "\(path)")
                #expect(try answer.oauthError == "invalid_request", "\(path)")
            }
            let browser = Browser(app: app)
            try await browser.signIn()
            for path in ["/orgs/%00/members", "/orgs/acme/members?x=%00", "/auth/device?user_code=%00"] {
                let answer = try await browser.get(path)
                #expect(answer.status == .badRequest, "\(path)")
                #expect(answer.headers.contentType == .html, "\(path)")
            }
        }
    }

    @Test("NUL in a JSON string or key is a 400 and changes nothing")
    func jsonBodies() async throws {
        try await withPortal { app in
            let (ada, acme, client) = try await Fixtures(app: app).standardCast(role: "owner")
            let token = try await Fixtures(app: app).token(for: ada, in: acme, client: client)
            let headers: HTTPHeaders = ["Authorization": "Bearer \(token)", "Content-Type": "application/json"]
            for body in [#"{"name":"a\u0000b","permissions":[]}"#, #"{"name":"ab","permissions":["\u0000"]}"#] {
                let answer = try await app.testing().sendRequest(
                    .POST,
                    "/api/orgs/acme/roles",
                    headers: headers,
                    body: ByteBuffer(string: body)
                )  // MUT
                #expect(answer.status == .badRequest, "\(body)")
            }
            #expect(try await Role.query(on: app.db).filter(\.$organization.$id == acme.requireID()).count() == 0)
        }
    }

    @Test("lengths count Unicode scalars and bytes, not graphemes")
    func lengths() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let cases: [(String, HTTPStatus)] = [
                (String(repeating: "e\u{301}", count: 100), .badRequest),  // 100 graphemes, 200 scalars
                ("a" + String(repeating: "\u{301}", count: 2_000), .badRequest),  // one grapheme, 4 KB
                (String(repeating: "🙂", count: 100), .ok),  // 100 scalars, 400 bytes
            ]
            for (name, status) in cases {
                let answer = try await app.testing().sendRequest(
                    .POST,
                    "/auth/device/code",
                    headers: formHeaders,
                    body: formBody([("client_id", "desktop"), ("device_name", name)])
                )  // MUT
                #expect(answer.status == status, "\(name.unicodeScalars.count) scalars")
            }
        }
    }

    @Test("a user agent with control characters is stored without them")
    func userAgent() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            var headers = formHeaders
            headers.add(name: .userAgent, value: "evil\u{1b}[2J\u{7}app\u{0}/1")
            let answer = try await app.testing().sendRequest(
                .POST,
                "/auth/device/code",
                headers: headers,
                body: formBody([("client_id", "desktop")])
            )  // MUT
            #expect(answer.status == .ok)
            let stored = try await DeviceAuthorization.query(on: app.db).first()?.requesterUserAgent
            #expect(stored == "evil[2Japp/1")
        }
    }

    @Test("a path below a static file, or a file's path with a trailing slash, is 404, not 500")
    func pathsBelowFiles() async throws {
        try await withPortal { app in
            for path in ["/css/portal.css/x", "/css/portal.css/..", "/openapi.json/x", "/openapi.json/", "/css/"] {
                let answer = try await app.testing().sendRequest(.GET, path)  // MUT
                #expect(answer.status == .notFound, "\(path)")
            }
            #expect(try await app.testing().sendRequest(.GET, "/css/portal.css").status == .ok)
        }
    }

    @Test("a logged path keeps its escapes: a decoded line break cannot forge a log line")
    func loggedPath() {
        #expect(RequestObservationMiddleware.loggable("/a%0Ab") == "/a%0Ab")  // MUT
        #expect(RequestObservationMiddleware.loggable("/a\nb c") == "/a%0Ab%20c")
        #expect(RequestObservationMiddleware.loggable("/é") == "/%C3%A9")
    }

    @Test(
        "RFC 2046 boundaries",
        arguments: [
            ("abc", true), ("", false), (String(repeating: "x", count: 70), true),
            (String(repeating: "x", count: 71), false),
            ("a b", true), ("ab ", false), ("----WebKitFormBoundary7MA4YWxkTrZu0gW", true), ("a\"b", false),
            ("é", false),
        ]
    )
    func boundaries(_ boundary: String, _ valid: Bool) {
        #expect(MultipartBoundary.isValid(boundary) == valid)  // MUT
    }
}
