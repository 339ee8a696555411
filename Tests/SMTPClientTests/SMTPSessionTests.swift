import Foundation
import NIOCore
import Testing

@testable import SMTPClient

@Suite("SMTP conversation")
struct SMTPSessionTests {
    static let message = "Subject: hi\r\n\r\nHello.\r\n"

    private func client(_ server: FakeSMTPServer, reply: TimeAmount = .seconds(5)) -> SMTPClient {
        SMTPClient(
            server: SMTPServer(host: "127.0.0.1", port: server.port, security: .none),
            timeouts: .init(connect: .seconds(2), reply: reply)
        )
    }

    @Test("a multi-line EHLO reply is read whole; the envelope, the data and QUIT follow in order")
    func delivers() async throws {
        let server = try await FakeSMTPServer.start()
        defer { Task { await server.stop() } }

        try await client(server).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT

        #expect(
            server.commands == [
                "EHLO localhost", "MAIL FROM:<portal@example.com>", "RCPT TO:<ada@example.com>", "DATA", "QUIT",
            ]
        )
        #expect(server.messages == ["Subject: hi\r\n\r\nHello."])
    }

    @Test("a server that refuses EHLO gets HELO")
    func heloFallback() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: ["EHLO": ["502 5.5.1 not implemented"]]))
        defer { Task { await server.stop() } }

        try await client(server).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT

        #expect(server.commands.prefix(3) == ["EHLO localhost", "HELO localhost", "MAIL FROM:<portal@example.com>"])
        #expect(server.messages.count == 1)
    }

    @Test("a 451 is a transient failure at its step, and the next attempt goes through")
    func transientThenSuccess() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: ["MAIL": ["451 4.3.0 try again later"]]))
        defer { Task { await server.stop() } }
        let client = client(server)

        // MUT
        await #expect(
            throws: SMTPError.transient(SMTPReply(code: 451, lines: ["4.3.0 try again later"]), during: .mailFrom)
        ) {
            try await client.send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        }
        #expect(server.messages.isEmpty)
        try await client.send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        #expect(server.messages.count == 1)
        #expect(server.connections == 2)
    }

    @Test("a 550 to the recipient is a permanent failure that condemns the message; no data is sent")
    func permanentRecipient() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: ["RCPT": ["550 5.1.1 no such user"]]))
        defer { Task { await server.stop() } }

        let error = await #expect(throws: SMTPError.self) {
            try await client(server).send(Self.message, from: "portal@example.com", to: ["nobody@example.com"])  // MUT
        }
        #expect(error == .permanent(SMTPReply(code: 550, lines: ["5.1.1 no such user"]), during: .recipient))
        #expect(error?.rejectsMessage == true)
        #expect(!server.commands.contains("DATA"))
    }

    @Test("a 5xx at the greeting is permanent but does not condemn the message")
    func permanentGreeting() async throws {
        let server = try await FakeSMTPServer.start(.init(greeting: "554 5.3.2 not accepting mail"))
        defer { Task { await server.stop() } }

        let error = await #expect(throws: SMTPError.self) {
            try await client(server).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT
        }
        #expect(error == .permanent(SMTPReply(code: 554, lines: ["5.3.2 not accepting mail"]), during: .greeting))
        #expect(error?.rejectsMessage == false)
    }

    @Test("a server that never answers times out within the reply limit")
    func silentServer() async throws {
        let server = try await FakeSMTPServer.start(.init(greeting: nil))
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now

        await #expect(throws: SMTPError.timedOut(during: .greeting)) {
            try await client(server, reply: .seconds(1)).send(  // MUT
                Self.message,
                from: "portal@example.com",
                to: ["ada@example.com"]
            )
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .seconds(1) && waited < .seconds(5))
    }

    @Test("a server that stops answering after the data times out there")
    func silentAfterData() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: [".": [nil]]))
        defer { Task { await server.stop() } }

        await #expect(throws: SMTPError.timedOut(during: .message)) {
            try await client(server, reply: .seconds(2)).send(  // MUT
                Self.message,
                from: "portal@example.com",
                to: ["ada@example.com"]
            )
        }
    }

    @Test("a server that never answers QUIT delays nothing: the message was accepted before it")
    func silentQuit() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: ["QUIT": [nil]]))
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now

        try await client(server, reply: .seconds(30)).send(  // MUT
            Self.message,
            from: "portal@example.com",
            to: ["ada@example.com"]
        )

        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(server.messages.count == 1)
    }

    @Test("a line starting with a dot is doubled on the wire; bare LF and CR become CRLF")
    func dotStuffing() async throws {
        let server = try await FakeSMTPServer.start()
        defer { Task { await server.stop() } }

        try await client(server).send(  // MUT
            "Subject: dots\n\n.hidden\n..two\rend.\n.",
            from: "portal@example.com",
            to: ["ada@example.com"]
        )

        #expect(server.messages == ["Subject: dots\r\n\r\n..hidden\r\n...two\r\nend.\r\n.."])
    }

    @Test("a connection refused is a connection failure, not a time-out")
    func refused() async throws {
        let server = try await FakeSMTPServer.start()
        let port = server.port
        await server.stop()
        let client = SMTPClient(server: SMTPServer(host: "127.0.0.1", port: port, security: .none))

        let error = await #expect(throws: SMTPError.self) {
            try await client.send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT
        }
        guard case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
    }

    @Test("smtp+starttls to a server without STARTTLS stops before anything is sent in clear")
    func startTLSRequired() async throws {
        let server = try await FakeSMTPServer.start()
        defer { Task { await server.stop() } }
        let client = SMTPClient(server: SMTPServer(host: "127.0.0.1", port: server.port, security: .startTLS))

        await #expect(throws: SMTPError.startTLSUnavailable) {
            try await client.send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT
        }
        #expect(server.commands == ["EHLO localhost"])
    }

    @Test("a reply whose lines disagree on the code ends the conversation")
    func mismatchedReply() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: ["EHLO": ["250-fake.test\r\n251 odd"]]))
        defer { Task { await server.stop() } }

        let error = await #expect(throws: SMTPError.self) {
            try await client(server).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT
        }
        #expect(error == .unexpectedReply("251 odd", during: .hello))
    }

    @Test("an address with a line break never reaches the server")
    func injectedAddress() async throws {
        let server = try await FakeSMTPServer.start()
        defer { Task { await server.stop() } }

        await #expect(throws: MailError.invalidAddress("ada@example.com>\r\nRCPT TO:<eve@example.com")) {
            try await client(server).send(  // MUT
                Self.message,
                from: "portal@example.com",
                to: ["ada@example.com>\r\nRCPT TO:<eve@example.com"]
            )
        }
        #expect(server.connections == 0)
    }
}
