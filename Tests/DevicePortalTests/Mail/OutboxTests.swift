import Fluent
import Foundation
import SMTPClient
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Outbox")
struct OutboxTests {
    /// Mail on, a fake transport in place; the test gets both.
    private func withMail(_ test: (Application, FakeMailTransport) async throws -> Void) async throws {
        try await withPortal({ $0.mailOn() }) { app in
            let transport = FakeMailTransport()
            app.mailTransport = transport
            try await test(app, transport)
        }
    }

    private static func draft(_ recipient: String = "ada@example.com") -> Outbox.Draft {
        Outbox.Draft(kind: .newDevice, recipient: recipient, subject: "Hello", text: "Hi", html: "<p>Hi</p>")
    }

    @Test("a device exchange enqueues one notice: To, subject, app, device, org, IP, time and link")
    func newDeviceNotice() async throws {
        try await withMail { app, transport in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            // Tests have no peer address; a real request's is stored when the code is issued.
            let authorization = try #require(try await DeviceAuthorization.query(on: app.db).first())
            authorization.requesterIP = "203.0.113.7"
            try await authorization.save(on: app.db)
            #expect(try await OutboxMessage.query(on: app.db).count() == 0)

            _ = try await desktop.exchange(code.deviceCode)  // MUT

            let queued = try await OutboxMessage.query(on: app.db).all()
            #expect(queued.count == 1)
            let message = try #require(queued.first)
            #expect(message.kind == .newDevice)
            #expect(message.recipient == "ada@example.com")
            #expect(message.subject == "New sign-in: Acme Desktop on ada-laptop")
            let ip = "203.0.113.7"
            let time = MailTemplate.readableDate(message.createdAt)
            for body in [message.textBody, message.htmlBody] {
                for expected in [
                    "Acme Desktop", "ada-laptop", "Acme", ip, time, app.publicBaseURL + "/settings/devices",
                ] {
                    #expect(body.contains(expected), "\(expected) missing from \(body)")
                }
            }
            #expect(message.htmlBody.contains("href=\"\(app.publicBaseURL)/settings/devices\""))
            #expect(time.wholeMatch(of: /[A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2} UTC/) != nil)

            #expect(await OutboxSender.round(app) == 1)
            let sent = try #require(transport.sent.first)
            #expect(sent.to == [try MailAddress("ada@example.com")])
            #expect(sent.from.address == "portal@example.com")
            #expect(sent.messageID == "outbox-\(try message.requireID().uuidString.lowercased())@example.com")
            #expect(sent.text == message.textBody && sent.html == message.htmlBody)
            let stored = try #require(try await OutboxMessage.find(message.requireID(), on: app.db))
            #expect(stored.sentAt != nil && stored.attempts == 1 && stored.leaseID == nil)
            #expect(await OutboxSender.round(app) == 0)
            #expect(transport.attempts == 1)
        }
    }

    @Test("the text body prints names as they are; the HTML body escapes them")
    func escaping() async throws {
        try await withMail { app, _ in
            let user = try await Fixtures(app: app).user()
            let organization = try await Fixtures(app: app).organization("smith", name: "Smith & <Sons>")
            let client = try await Fixtures(app: app).client(name: "CLI \"beta\"")
            try await NewDeviceNotice.enqueue(  // MUT
                to: user,
                clientID: client.requireID(),
                deviceName: nil,
                organization: organization,
                ip: "203.0.113.9",
                at: Date(),
                app: app,
                on: app.db
            )
            let message = try #require(try await OutboxMessage.query(on: app.db).first())
            #expect(message.textBody.contains("Organization: Smith & <Sons>"))
            #expect(message.textBody.contains("App:          CLI \"beta\""))
            #expect(message.htmlBody.contains("Smith &amp; &lt;Sons&gt;"))
            #expect(!message.htmlBody.contains("<Sons>"))
            #expect(message.textBody.contains("an unnamed device"))
        }
    }

    @Test("without SMTP_URL an exchange enqueues nothing and the sender does nothing")
    func mailOff() async throws {
        try await withPortal { app in
            try await Fixtures(app: app).standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()

            let token = try await desktop.exchange(code.deviceCode)  // MUT

            #expect(token.accessToken.count == 64)
            #expect(try await OutboxMessage.query(on: app.db).count() == 0)
            #expect(app.mailTransport == nil)
            #expect(await OutboxSender.round(app) == 0)
        }
    }

    @Test("an exchange refused (the approver left the org) mails nothing; a rolled-back enqueue leaves nothing")
    func onlyWithTheAction() async throws {
        try await withMail { app, _ in
            let fixtures = Fixtures(app: app)
            let (user, organization, _) = try await fixtures.standardCast()
            let desktop = DesktopApp(app: app)
            let code = try await desktop.decidedCode()
            try await fixtures.remove(user, from: organization)

            let refused = try await desktop.poll(code.deviceCode)  // MUT
            #expect(refused.status == .badRequest)
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await app.db.transaction { tx in
                    try await Outbox.enqueue(Self.draft(), at: Date(), app: app, on: tx)  // MUT
                    throw Abort()
                }
            }
            #expect(try await OutboxMessage.query(on: app.db).count() == 0)
        }
    }

    @Test("a transient failure is retried after the back-off; a refusal is kept with its error and never retried")
    func retries() async throws {
        try await withMail { app, transport in
            let now = Date()
            try await Outbox.enqueue(Self.draft(), at: now, app: app, on: app.db)
            transport.fail(with: SMTPError.transient(SMTPReply(code: 451, lines: ["later"]), during: .mailFrom))

            #expect(await OutboxSender.round(app, at: { now }) == 0)  // MUT
            let retried = try #require(try await OutboxMessage.query(on: app.db).first())
            #expect(retried.attempts == 1 && retried.sentAt == nil && retried.failedAt == nil)
            #expect(abs(retried.nextAttemptAt.timeIntervalSince(now) - 5) < 0.01)
            #expect(retried.lastError?.contains("451") == true)
            #expect(await OutboxSender.round(app, at: { now + 4 }) == 0)
            #expect(transport.attempts == 1)
            #expect(await OutboxSender.round(app, at: { now + 6 }) == 1)
            #expect(transport.sent.count == 1)

            try await Outbox.enqueue(Self.draft("nobody@example.com"), at: now, app: app, on: app.db)
            transport.fail(with: SMTPError.permanent(SMTPReply(code: 550, lines: ["no such user"]), during: .recipient))
            #expect(await OutboxSender.round(app, at: { now + 7 }) == 0)  // MUT
            let refused = try #require(
                try await OutboxMessage.query(on: app.db).filter(\.$recipient == "nobody@example.com").first()
            )
            #expect(refused.failedAt != nil && refused.sentAt == nil)
            #expect(refused.lastError?.contains("550") == true)
            #expect(await OutboxSender.round(app, at: { now + 86_400 }) == 0)
            #expect(transport.attempts == 3)
        }
    }

    @Test("a round told to stop (the server is shutting down) claims nothing more")
    func stopping() async throws {
        try await withMail { app, transport in
            try await Outbox.enqueue(Self.draft(), at: Date(), app: app, on: app.db)

            #expect(await OutboxSender.round(app, until: { true }) == 0)  // MUT

            #expect(transport.attempts == 0)
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$leaseID != nil).count() == 0)
        }
    }

    @Test("an error logged leaves out the addresses a server's answer repeats")
    func logsHoldNoAddress() {
        let answer = "permanent failure at RCPT TO: 550 5.1.1 <ada@example.com>: no such user (grace.h@example.org)"
        #expect(
            OutboxSender.withoutAddresses(answer)  // MUT
                == "permanent failure at RCPT TO: 550 5.1.1 <(address)>: no such user ((address))"
        )
    }

    @Test("a 5xx to the greeting or the sign-in is retried: it condemns the configuration, not the message")
    func serverRefusalIsRetried() async throws {
        try await withMail { app, transport in
            let now = Date()
            try await Outbox.enqueue(Self.draft(), at: now, app: app, on: app.db)
            transport.fail(
                with: SMTPError.permanent(SMTPReply(code: 535, lines: ["bad credentials"]), during: .authentication)
            )

            await OutboxSender.round(app, at: { now })  // MUT

            let message = try #require(try await OutboxMessage.query(on: app.db).first())
            #expect(message.failedAt == nil && message.attempts == 1)
        }
    }

    @Test("back-off: 5 s doubling to an hour; the last attempt gives up and keeps the error")
    func backOff() async throws {
        #expect((1...5).map(Outbox.retryDelay(afterAttempt:)) == [5, 10, 20, 40, 80])
        #expect(Outbox.retryDelay(afterAttempt: 11) == 3_600)
        #expect(Outbox.retryDelay(afterAttempt: 1_000) == 3_600)
        try await withMail { app, transport in
            let now = Date()
            try await Outbox.enqueue(Self.draft(), at: now, app: app, on: app.db)
            let message = try #require(try await OutboxMessage.query(on: app.db).first())
            message.attempts = Outbox.maximumAttempts - 1
            try await message.save(on: app.db)
            transport.fail(with: SMTPError.connectionFailed("refused"))

            await OutboxSender.round(app, at: { now })  // MUT

            let stored = try #require(try await OutboxMessage.find(message.requireID(), on: app.db))
            #expect(stored.failedAt != nil)
            #expect(stored.lastError == "gave up after \(Outbox.maximumAttempts) attempts: cannot connect: refused")
        }
    }

    @Test("a lease keeps a claimed message from other senders until it runs out; a late outcome is not recorded")
    func lease() async throws {
        try await withMail { app, _ in
            let now = Date()
            try await Outbox.enqueue(Self.draft(), at: now, app: app, on: app.db)

            let first = try #require(try await Outbox.claim(at: now, on: app.db))  // MUT
            #expect(try await Outbox.claim(at: now + 60, on: app.db) == nil)
            let second = try #require(try await Outbox.claim(at: now + Outbox.lease + 1, on: app.db))
            #expect(second.id == first.id && second.leaseID != first.leaseID)
            #expect(try await Outbox.record(.sent, for: first, at: now + Outbox.lease + 2, on: app.db) == false)
            #expect(try await Outbox.record(.sent, for: second, at: now + Outbox.lease + 2, on: app.db))
        }
    }

    @Test("senders running at once send each message exactly once")
    func concurrentSenders() async throws {
        try await withPortal({ $0.mailOn() }) { app in
            let transport = FakeMailTransport(delay: .milliseconds(5))
            app.mailTransport = transport
            for index in 0..<24 {
                try await Outbox.enqueue(Self.draft("person\(index)@example.com"), at: Date(), app: app, on: app.db)
            }

            let counts = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<4 { group.addTask { await OutboxSender.round(app) } }  // MUT
                return await group.reduce(into: []) { $0.append($1) }
            }

            #expect(counts.reduce(0, +) == 24)
            #expect(Set(transport.sent.map(\.messageID)).count == 24)
            #expect(transport.sent.count == 24)
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$sentAt == nil).count() == 0)
        }
    }

    @Test("the invitation renders with the organization, inviter, role, link and expiry, and is enqueued")
    func invitation() async throws {
        try await withMail { app, _ in
            let expires = Date(timeIntervalSince1970: 1_796_760_000)  // 2026-12-08 20:00 UTC
            try await InvitationMail.enqueue(  // MUT
                to: "grace@example.com",
                organizationName: "Smith & Sons",
                invitedBy: "Ada Lovelace",
                role: "admin",
                url: "http://127.0.0.1:8080/invitations/abc?x=1&y=2",
                expiresAt: expires,
                at: Date(),
                app: app,
                on: app.db
            )
            let message = try #require(try await OutboxMessage.query(on: app.db).first())
            #expect(message.kind == .invitation && message.recipient == "grace@example.com")
            #expect(message.subject == "Ada Lovelace invites you to Smith & Sons on DevicePortal")
            #expect(
                message.textBody.contains("Ada Lovelace invites you to join Smith & Sons on DevicePortal, as admin.")
            )
            #expect(message.textBody.contains("http://127.0.0.1:8080/invitations/abc?x=1&y=2"))
            #expect(message.textBody.contains("Tuesday 8 December 2026, 20:00 UTC"))
            #expect(message.htmlBody.contains("href=\"http://127.0.0.1:8080/invitations/abc?x=1&amp;y=2\""))
            #expect(message.htmlBody.contains("<strong>Smith &amp; Sons</strong>"))
        }
    }

    @Test("housekeeping deletes messages sent or given up a month ago, and keeps the rest")
    func purge() async throws {
        try await withMail { app, _ in
            let now = Date()
            for _ in 0..<4 { try await Outbox.enqueue(Self.draft(), at: now, app: app, on: app.db) }
            let messages = try await OutboxMessage.query(on: app.db).all()
            messages[0].sentAt = now - Outbox.retention - 1
            messages[1].failedAt = now - Outbox.retention - 1
            messages[2].sentAt = now - Outbox.retention + 60
            for message in messages { try await message.save(on: app.db) }

            let purged = try await Housekeeping.purge(at: now, on: app.db)  // MUT

            #expect(purged?.mailMessages == 2)
            let left = try await OutboxMessage.query(on: app.db).all().compactMap(\.id)
            #expect(Set(left) == Set([messages[2].id, messages[3].id].compactMap { $0 }))
        }
    }

    @Test("metrics: messages sent, failed by outcome, and queued")
    func metrics() async throws {
        try await withPortal({
            $0.mailOn()
            $0.metricsToken = MetricsTests.metricsToken
        }) { app in
            let transport = FakeMailTransport()
            app.mailTransport = transport
            for _ in 0..<3 { try await Outbox.enqueue(Self.draft(), at: Date(), app: app, on: app.db) }
            transport.fail(with: SMTPError.timedOut(during: .greeting))
            #expect(try await MetricsTests.scrape(app)["portal_mail_queued"] == 3)

            await OutboxSender.round(app)  // MUT

            let scrape = try await MetricsTests.scrape(app)
            #expect(scrape["portal_mail_sent_total"] == 2)
            #expect(scrape["portal_mail_failed_total{outcome=\"retry\"}"] == 1)
            #expect(scrape["portal_mail_failed_total{outcome=\"rejected\"}"] == 0)
            #expect(scrape["portal_mail_queued"] == 1)
        }
    }
}

@Suite("Invitation mail")
struct InvitationMailTests {
    @Test("an invitation is queued as mail in its own transaction, with its link; a refused one queues nothing")
    func invitationQueued() async throws {
        try await withPortal({ $0.mailOn() }) { app in
            let cast = try await OrganizationCast.make(app)
            let made = try await cast.invitation("nia@example.com", as: "member", by: "owner")  // MUT
            let queued = try await OutboxMessage.query(on: app.db).filter(\.$kind == .invitation).all()
            #expect(queued.map(\.recipient) == ["nia@example.com"])
            #expect(queued.first?.textBody.contains("/invitations/\(made.secret)") == true)
            #expect(queued.first?.htmlBody.contains("Acme") == true)

            // A member cannot invite an owner: refused, and nothing is mailed.
            let refused = try await cast.call(
                .POST,
                "/api/orgs/acme/invitations",
                as: "member",
                json: #"{"email":"eve@example.com","role":"owner"}"#
            )
            #expect(refused.status == .forbidden)
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$kind == .invitation).count() == 1)
        }
    }
}
