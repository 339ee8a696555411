import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("POST /auth/device/code")
struct DeviceCodeEndpointTests {
    private func request(_ app: Application, _ fields: [(String, String)]) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(.POST, "/auth/device/code", headers: formHeaders, body: formBody(fields))
    }

    @Test("a public client gets a device code, a user code and the verification URIs")
    func issues() async throws {
        try await withPortal({ $0.publicBaseURL = "https://portal.example.com" }) { app in
            try await Fixtures(app: app).client()
            let fields = [
                ("client_id", "desktop"), ("device_name", "ada-laptop"), ("scope", "anything"), ("extra", "x"),
            ]
            let response = try await request(app, fields)  // MUT
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .cacheControl) == "no-store")
            let answer = try response.decoded(as: DeviceCodeController.CodeResponse.self)
            let userCode = answer.userCode
            #expect(userCode.wholeMatch(of: /[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}/) != nil)
            let deviceCode = answer.deviceCode
            #expect(deviceCode.count >= 43)  // 256 bits, base64url
            #expect(answer.verificationURI == "https://portal.example.com/auth/device")
            #expect(answer.verificationURIComplete == "https://portal.example.com/auth/device?user_code=\(userCode)")
            #expect(answer.expiresIn == 900)
            #expect(answer.interval == 5)

            let stored = try #require(try await DeviceAuthorization.query(on: app.db).first())
            #expect(stored.deviceCodeHash == OpaqueSecret.hash(deviceCode))
            #expect(stored.userCode == userCode.replacingOccurrences(of: "-", with: ""))
            #expect(stored.deviceName == "ada-laptop")
            #expect(stored.status == .pending)
        }
    }

    @Test("bad requests are refused with the right error and store nothing")
    func refusals() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).client()
            try await Fixtures(app: app).client("service", confidential: true)
            let cases: [([(String, String)], HTTPStatus, String)] = [
                ([], .badRequest, "invalid_request"),
                ([("client_id", "")], .badRequest, "invalid_request"),
                ([("client_id", "nobody")], .unauthorized, "invalid_client"),
                ([("client_id", "service")], .unauthorized, "invalid_client"),
                (
                    [("client_id", "desktop"), ("device_name", String(repeating: "x", count: 101))], .badRequest,
                    "invalid_request"
                ),
                ([("client_id", "desktop"), ("device_name", "bad\u{7}name")], .badRequest, "invalid_request"),
                ([("client_id", String(repeating: "c", count: 600))], .badRequest, "invalid_request"),
                ([("client_id", "desktop"), ("client_id", "desktop")], .badRequest, "invalid_request"),
            ]
            for (fields, status, error) in cases {
                let response = try await request(app, fields)  // MUT
                #expect(response.status == status, "\(fields.map(\.0))")
                #expect(try response.oauthError == error, "\(fields.map(\.0))")
            }
            let json = try await app.testing().sendRequest(
                .POST,
                "/auth/device/code",
                headers: ["Content-Type": "application/json"],
                body: ByteBuffer(string: #"{"client_id":"desktop"}"#)
            )
            #expect(json.status == .badRequest)
            #expect(try json.oauthError == "invalid_request")
            #expect(try await DeviceAuthorization.query(on: app.db).count() == 0)
        }
    }

    @Test(
        "one IP gets DEVICE_CODE_RATE_LIMIT codes a minute, then 429 with Retry-After and nothing stored; 0 means no limit"
    )
    func perIPLimit() async throws {
        try await withPortal({ $0.deviceCodesPerIPPerMinute = 3 }) { app in
            try await Fixtures(app: app).client()
            for _ in 0..<3 { #expect(try await request(app, [("client_id", "desktop")]).status == .ok) }
            let refused = try await request(app, [("client_id", "desktop")])  // MUT
            #expect(refused.status == .tooManyRequests)
            #expect(try refused.oauthError == "too_many_requests")
            #expect(Int(refused.headers.first(name: .retryAfter) ?? "") ?? 0 > 0)
            #expect(try await DeviceAuthorization.query(on: app.db).count() == 3)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$kind == .deviceCodeIssued).count() == 3)
        }
        try await withPortal({ $0.deviceCodesPerIPPerMinute = 0 }) { app in
            try await Fixtures(app: app).client()
            for _ in 0..<40 { #expect(try await request(app, [("client_id", "desktop")]).status == .ok) }
            #expect(try await RateLimitEvent.query(on: app.db).count() == 0)
        }
    }

    @Test("a device name of exactly 100 characters is accepted")
    func longestDeviceName() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).client()
            let response = try await request(
                app,
                [("client_id", "desktop"), ("device_name", String(repeating: "é", count: 100))]
            )
            #expect(response.status == .ok)
        }
    }

    @Test("secrets are hashed as SHA-256 in lowercase hex, and made as 64 lowercase hex digits")
    func hashing() {
        #expect(OpaqueSecret.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(OpaqueSecret.lowercaseHex([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        let token = OpaqueSecret.hex()
        #expect(OpaqueSecret.isAPITokenShaped(token))
        #expect(token != OpaqueSecret.hex())
    }

    @Test("user codes: any case, with or without dash or spaces; only the alphabet")
    func userCodeNormalization() {
        #expect(UserCode.normalize("wdjb-mjht") == "WDJBMJHT")
        #expect(UserCode.normalize(" WDJB MJHT ") == "WDJBMJHT")
        #expect(UserCode.normalize("wdjbmjht") == "WDJBMJHT")
        #expect(UserCode.normalize("WDJB-MJHA") == nil)  // A is not in the alphabet
        #expect(UserCode.normalize("WDJB-MJH") == nil)
        #expect(UserCode.display("WDJBMJHT") == "WDJB-MJHT")
        let codes = (0..<200).map { _ in UserCode.generate() }
        #expect(codes.allSatisfy { UserCode.normalize($0) == $0 })
        #expect(Set(codes).count > 190)
    }
}
