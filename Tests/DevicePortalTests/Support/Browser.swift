import Foundation
import VaporTesting

@testable import DevicePortal

/// A person's browser: keeps cookies between requests and reads the CSRF token of the
/// last page it saw, as a real one would submit it with a form.
final class Browser {
    let app: Application
    var cookies: [String: String] = [:]
    var csrfToken: String?
    var remoteIP: String?

    init(app: Application) {
        self.app = app
    }

    @discardableResult
    func get(_ path: String) async throws -> TestingHTTPResponse {
        try await send(.GET, path, body: nil)
    }

    /// Posts a form, adding the CSRF token of the last page unless the fields name one.
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)]) async throws -> TestingHTTPResponse {
        var fields = fields
        if !fields.contains(where: { $0.0 == "csrf_token" }), let csrfToken { fields.append(("csrf_token", csrfToken)) }
        return try await send(.POST, path, body: formBody(fields))
    }

    /// Posts a form with files (`multipart/form-data`), adding the CSRF token of the last page
    /// unless the fields name one.
    @discardableResult
    func post(_ path: String, _ form: MultipartForm) async throws -> TestingHTTPResponse {
        var form = form
        if !form.fields.contains(where: { $0.0 == "csrf_token" }), let csrfToken {
            form.fields.append(("csrf_token", csrfToken))
        }
        return try await send(.POST, path, body: form.body, contentType: MultipartForm.contentType)
    }

    /// A POST of any body under any content type, as a hostile client sends it.
    @discardableResult
    func postRaw(_ path: String, _ body: String, contentType: String) async throws -> TestingHTTPResponse {
        try await send(.POST, path, body: ByteBuffer(string: body), contentType: contentType)
    }

    /// A POST from the page's script: no form, the CSRF token in `X-CSRF-Token`.
    @discardableResult
    func postFromScript(_ path: String, csrfToken: String? = nil) async throws -> TestingHTTPResponse {
        try await send(.POST, path, body: nil, extraHeaders: ["X-CSRF-Token": csrfToken ?? self.csrfToken ?? ""])
    }

    /// A session JWT for the session's active organization, asked for as the pages' script asks.
    func sessionJWT() async throws -> String {
        try await postFromScript("/auth/session/token").decoded(as: SessionTokenController.SessionToken.self).token
    }

    private func send(
        _ method: HTTPMethod,
        _ path: String,
        body: ByteBuffer?,
        extraHeaders: HTTPHeaders = [:],
        contentType: String = "application/x-www-form-urlencoded"
    ) async throws -> TestingHTTPResponse {
        var headers = body == nil ? HTTPHeaders() : ["Content-Type": contentType]
        headers.add(contentsOf: extraHeaders)
        if !cookies.isEmpty {
            headers.add(name: .cookie, value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
        }
        let response = try await app.testing().sendRequest(method, path, headers: headers, body: body)
        for (name, cookie) in response.headers.setCookie?.all ?? [:] {
            cookies[name] = cookie.string.isEmpty ? nil : cookie.string
        }
        if let match = response.body.string.firstMatch(of: /name="csrf_token" value="([0-9a-f]{64})"/) {
            csrfToken = String(match.1)
        }
        return response
    }

    /// Signs in through the login form.
    @discardableResult
    func signIn(
        _ email: String = "ada@example.com",
        password: String = Fixtures.password,
        next: String = "/"
    )
        async throws -> TestingHTTPResponse
    {
        try await get("/login")
        return try await post("/login", [("email", email), ("password", password), ("next", next)])
    }

    /// Enters a user code and approves it for an organization.
    @discardableResult
    func approve(
        _ userCode: String,
        org: String = "acme",
        action: String = "approve"
    ) async throws
        -> TestingHTTPResponse
    {
        try await get("/auth/device")
        try await post("/auth/device", [("user_code", userCode)])
        return try await post("/auth/device/confirm", [("user_code", userCode), ("org", org), ("action", action)])
    }
}

/// The desktop app's side of the flow, over the JSON endpoints.
struct DesktopApp {
    let app: Application
    var clientID = "desktop"

    func requestCode(deviceName: String? = "ada-laptop") async throws -> (deviceCode: String, userCode: String) {
        var fields = [("client_id", clientID)]
        if let deviceName { fields.append(("device_name", deviceName)) }
        let response = try await app.testing().sendRequest(
            .POST,
            "/auth/device/code",
            headers: formHeaders,
            body: formBody(fields)
        )
        let answer = try response.decoded(as: DeviceCodeController.CodeResponse.self)
        return (answer.deviceCode, answer.userCode)
    }

    func poll(_ deviceCode: String, clientID: String? = nil) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(
            .POST,
            "/auth/device/token",
            headers: formHeaders,
            body: formBody([
                ("grant_type", DeviceTokenController.grantType), ("device_code", deviceCode),
                ("client_id", clientID ?? self.clientID),
            ])
        )
    }

    /// Polls once and expects the token: the answer of an approved code.
    func exchange(_ deviceCode: String) async throws -> DeviceTokenController.TokenResponse {
        try await poll(deviceCode).decoded(as: DeviceTokenController.TokenResponse.self)
    }

    func me(_ token: String) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(.GET, "/me", headers: ["Authorization": "Bearer \(token)"])
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension DesktopApp {
    /// A fresh code, and ada's browser signed in to decide it.
    func codeAndSignedInBrowser() async throws -> (code: (deviceCode: String, userCode: String), browser: Browser) {
        let code = try await requestCode()
        let browser = Browser(app: app)
        try await browser.signIn()
        return (code, browser)
    }

    /// A code that ada has approved (or denied) through the pages, for `org`.
    func decidedCode(
        org: String = "acme",
        action: String = "approve"
    ) async throws -> (
        deviceCode: String, userCode: String
    ) {
        let code = try await requestCode()
        let browser = Browser(app: app)
        try await browser.signIn()
        let page = try await browser.approve(code.userCode, org: org, action: action)
        let expected = action == "approve" ? "Device connected" : "Device denied"
        guard page.status == .ok, page.text.contains(expected) else {
            throw TestFailure("\(action) failed: \(page.status)")
        }
        return code
    }
}
