import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("POST /auth/device/token")
struct DeviceTokenEndpointTests {
    private func poll(_ app: Application, _ fields: [(String, String)]) async throws -> TestingHTTPResponse {
        try await app.testing().sendRequest(.POST, "/auth/device/token", headers: formHeaders, body: formBody(fields))
    }

    @Test("errors come in the contract's order, in the RFC 6749 shape")
    func errorOrder() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            try await Fixtures(app: app).client("service", confidential: true)
            let grant = ("grant_type", DeviceTokenController.grantType)
            let cases: [([(String, String)], HTTPStatus, String)] = [
                ([("grant_type", "password"), ("client_id", "nobody")], .badRequest, "unsupported_grant_type"),
                ([("device_code", "x"), ("client_id", "desktop")], .badRequest, "invalid_request"),
                ([grant, ("client_id", "nobody")], .badRequest, "invalid_request"),
                ([grant, ("device_code", "x")], .badRequest, "invalid_request"),
                ([grant, ("device_code", "x"), ("client_id", "nobody")], .unauthorized, "invalid_client"),
                ([grant, ("device_code", "x"), ("client_id", "service")], .unauthorized, "invalid_client"),
                ([grant, ("device_code", "x"), ("client_id", "desktop")], .badRequest, "invalid_grant"),
            ]
            for (fields, status, error) in cases {
                let response = try await poll(app, fields)  // MUT
                #expect(response.status == status, "\(fields)")
                #expect(try response.oauthError == error, "\(fields)")
                #expect(try !response.oauthErrorBody.errorDescription.isEmpty)
                #expect(response.headers.first(name: .cacheControl) == "no-store")
            }
            let json = try await app.testing().sendRequest(
                .POST,
                "/auth/device/token",
                headers: ["Content-Type": "application/json"],
                body: ByteBuffer(string: #"{"grant_type":"x"}"#)
            )
            #expect(json.status == .badRequest)
            #expect(try json.oauthError == "invalid_request")
        }
    }

    @Test("a code polled by another client is invalid_grant and its poll time is untouched")
    func otherClientsCode() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            try await Fixtures(app: app).client("other-app")
            let code = try await DesktopApp(app: app).requestCode()
            let response = try await DesktopApp(app: app).poll(code.deviceCode, clientID: "other-app")
            #expect(try response.oauthError == "invalid_grant")
            #expect(try await DeviceAuthorization.query(on: app.db).first()?.lastPolledAt == nil)
        }
    }

    @Test("polling early gives slow_down, grows the stored interval by 5 s up to 60, and keeps the last poll time")
    func slowDown() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.requestCode()
            #expect(try await desktop.poll(code.deviceCode).oauthError == "authorization_pending")
            let firstPoll = try await DeviceAuthorization.query(on: app.db).first()?.lastPolledAt
            #expect(firstPoll != nil)

            var intervals: [Int] = []
            for _ in 0..<13 {
                let response = try await desktop.poll(code.deviceCode)  // MUT
                #expect(try response.oauthError == "slow_down")
                let stored = try #require(try await DeviceAuthorization.query(on: app.db).first())
                intervals.append(stored.pollInterval)
                #expect(stored.lastPolledAt == firstPoll)
            }
            #expect(intervals == [10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 60, 60])

            // The grown interval counts: 59 s after the last poll is still early, 61 s is not.
            try await rewindPolls(app, to: 59)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "slow_down")
            try await rewindPolls(app, to: 61)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "authorization_pending")
        }
    }

    @Test("the first poll is never slow_down, even right after the code was issued")
    func firstPollNeverSlowDown() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.requestCode()
            #expect(try await desktop.poll(code.deviceCode).oauthError == "authorization_pending")
        }
    }

    @Test("an expired code answers expired_token, before any slow_down")
    func expired() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.requestCode()
            _ = try await desktop.poll(code.deviceCode)
            try await expireCodes(app)
            for _ in 0..<2 {
                let response = try await desktop.poll(code.deviceCode)
                #expect(try response.oauthError == "expired_token")
            }
        }
    }

    @Test("a denied code answers access_denied on every poll")
    func denied() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode(action: "deny")
            for _ in 0..<2 {
                try await rewindPolls(app)
                #expect(try await desktop.poll(code.deviceCode).oauthError == "access_denied")
            }
            #expect(try await APIToken.query(on: app.db).count() == 0)
        }
    }

    @Test("an exchanged code is invalid_grant afterwards")
    func exchangedOnce() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            #expect(try await desktop.poll(code.deviceCode).status == .ok)
            try await rewindPolls(app)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "invalid_grant")
            #expect(try await APIToken.query(on: app.db).count() == 1)
        }
    }

    @Test("24 concurrent polls of an approved code give exactly one token")
    func concurrentPolls() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for _ in 0..<24 { group.addTask { try await desktop.poll(code.deviceCode).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 1)
            #expect(!statuses.contains(.internalServerError))
            #expect(try await APIToken.query(on: app.db).count() == 1)
        }
    }

    @Test("concurrent redemptions of one approval mint one token: the conditional update decides")
    func concurrentRedemptions() async throws {
        try await withPortal { app in
            let (_, organization, client) = try await Fixtures(app: app).standardCast()
            _ = try await DesktopApp(app: app).decidedCode()
            let authorizationID = try #require(try await DeviceAuthorization.query(on: app.db).first()?.id)
            // Each redemption either mints the token or is refused as invalid_grant: never a
            // second token, and never an error from the database's unique index.
            let outcomes = await withTaskGroup(of: String.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do {
                            // MUT
                            _ = try await DeviceTokenController.redeem(
                                authorizationID,
                                clientID: client.requireID(),
                                organizationID: organization.requireID(),
                                serverTokenTTL: 3_600,
                                at: Date(),
                                app: app,
                                on: app.db
                            )
                            return "token"
                        } catch let error as JSONError {
                            return error.error
                        } catch {
                            return String(describing: error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.sorted() == Array(repeating: "invalid_grant", count: 9) + ["token"])
            #expect(try await APIToken.query(on: app.db).count() == 1)
        }
    }

    @Test("an approval whose approver left the org before the exchange gives no token")
    func approverRemovedBeforeExchange() async throws {
        try await withPortal { app in
            let (user, organization, _) = try await Fixtures(app: app).standardCast()
            let owner = try await Fixtures(app: app).user("boss@example.com")
            try await Fixtures(app: app).member(owner, of: organization, as: "owner")
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            try await Fixtures(app: app).remove(user, from: organization)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "access_denied")
            #expect(try await APIToken.query(on: app.db).count() == 0)
        }
    }

    @Test("no token once the org turns device sign-in off, even for a code approved before")
    func deviceSignInTurnedOff() async throws {
        try await withPortal { app in
            let (_, organization, _) = try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            organization.deviceSignIn = false
            try await organization.save(on: app.db)
            #expect(try await desktop.poll(code.deviceCode).oauthError == "access_denied")  // MUT
            #expect(try await APIToken.query(on: app.db).count() == 0)
        }
    }

    @Test("an organization's shorter token lifetime applies to new tokens")
    func organizationTokenLifetime() async throws {
        try await withPortal { app in
            let (_, organization, _) = try await Fixtures(app: app).standardCast()
            organization.tokenTTL = 3_600
            try await organization.save(on: app.db)
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            #expect(try await desktop.exchange(code.deviceCode).expiresIn == 3_600)
        }
    }
}
