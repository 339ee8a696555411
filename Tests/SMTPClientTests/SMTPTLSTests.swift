import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import SMTPClient

@Suite("SMTP over TLS and sign-in")
struct SMTPTLSTests {
    static let message = "Subject: hi\r\n\r\nHello.\r\n"
    static let tlsEHLO = "250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME"

    private func client(
        _ server: FakeSMTPServer,
        _ security: SMTPServer.Security,
        tls: TLSConfiguration? = nil
    ) throws -> SMTPClient {
        SMTPClient(
            server: SMTPServer(
                host: "localhost",
                port: server.port,
                security: security,
                credentials: .init(username: "ada", password: "secret")
            ),
            timeouts: .init(connect: .seconds(2), reply: .seconds(5)),
            tlsConfiguration: try tls ?? TestCertificate.clientConfiguration()
        )
    }

    @Test("STARTTLS: EHLO, STARTTLS, EHLO again inside TLS, then AUTH PLAIN with the decoded credentials")
    func startTLS() async throws {
        let server = try await FakeSMTPServer.start(
            .init(replies: ["EHLO": [Self.tlsEHLO, "250-fake.test\r\n250 AUTH LOGIN PLAIN"]], tls: .startTLS)
        )
        defer { Task { await server.stop() } }

        // MUT
        try await client(server, .startTLS).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])

        #expect(
            server.commands == [
                "EHLO localhost", "STARTTLS", "EHLO localhost", "AUTH PLAIN AGFkYQBzZWNyZXQ=",
                "MAIL FROM:<portal@example.com>", "RCPT TO:<ada@example.com>", "DATA", "QUIT",
            ]
        )
        #expect(server.messages == ["Subject: hi\r\n\r\nHello."])
    }

    @Test("replies sent in the clear after STARTTLS's 220 are never read as answers over TLS")
    func injectedAfterStartTLS() async throws {
        let server = try await FakeSMTPServer.start(
            .init(
                replies: ["EHLO": [Self.tlsEHLO], "STARTTLS": ["220 2.0.0 go ahead\r\n250 AUTH PLAIN"]],
                tls: .startTLS
            )
        )
        defer { Task { await server.stop() } }

        await #expect(
            throws: SMTPError.unexpectedReply("more than the answer to STARTTLS, in the clear", during: .startTLS)
        ) {
            // MUT
            try await client(server, .startTLS).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        }
        #expect(server.commands == ["EHLO localhost", "STARTTLS"])
    }

    @Test("a server that answers STARTTLS and never shakes hands times out; nothing more is sent")
    func stalledHandshake() async throws {
        let silence: [String?] = Array(repeating: nil, count: 50)
        let server = try await FakeSMTPServer.start(.init(replies: ["EHLO": [Self.tlsEHLO], "*": silence]))
        defer { Task { await server.stop() } }
        let started = ContinuousClock.now
        let quick = SMTPClient(
            server: SMTPServer(host: "localhost", port: server.port, security: .startTLS),
            timeouts: .init(connect: .seconds(2), reply: .seconds(3)),
            tlsConfiguration: try TestCertificate.clientConfiguration()
        )

        await #expect(throws: SMTPError.timedOut(during: .hello)) {
            try await quick.send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .seconds(3) && waited < .seconds(10))
        #expect(server.commands.prefix(2) == ["EHLO localhost", "STARTTLS"])
        #expect(!server.commands.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") })
    }

    @Test("credentials for a server without TLS are never sent: refused before the envelope")
    func credentialsInClearRefused() async throws {
        let server = try await FakeSMTPServer.start(.init(replies: ["EHLO": ["250-fake.test\r\n250 AUTH PLAIN"]]))
        defer { Task { await server.stop() } }
        await #expect(throws: SMTPError.credentialsWithoutTLS) {
            // MUT
            try await client(server, .none).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        }
        #expect(!server.commands.contains { $0.hasPrefix("AUTH") || $0.hasPrefix("MAIL") })
    }

    @Test("smtps: TLS from the first byte; AUTH LOGIN when the server offers only that")
    func implicitTLSWithLogin() async throws {
        let server = try await FakeSMTPServer.start(
            .init(
                replies: [
                    "EHLO": ["250-fake.test\r\n250 AUTH=LOGIN"], "AUTH": ["334 VXNlcm5hbWU6"],
                    "*": ["334 UGFzc3dvcmQ6", "235 2.7.0 ok"],
                ],
                tls: .implicit
            )
        )
        defer { Task { await server.stop() } }

        try await client(server, .tls).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])  // MUT

        #expect(
            server.commands.prefix(5) == [
                "EHLO localhost", "AUTH LOGIN", "YWRh", "c2VjcmV0", "MAIL FROM:<portal@example.com>",
            ]
        )
        #expect(server.messages.count == 1)
    }

    @Test("a certificate the client does not trust fails the handshake; nothing is sent")
    func untrustedCertificate() async throws {
        let server = try await FakeSMTPServer.start(.init(tls: .implicit))
        defer { Task { await server.stop() } }

        let error = await #expect(throws: SMTPError.self) {
            try await client(server, .tls, tls: .makeClientConfiguration())  // MUT
                .send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        }
        guard case .tlsFailed = error else {
            Issue.record("expected tlsFailed, got \(String(describing: error))")
            return
        }
        #expect(server.commands.isEmpty)
    }

    @Test("credentials and a server that offers no known AUTH mechanism: stop before the envelope")
    func noMechanism() async throws {
        let server = try await FakeSMTPServer.start(
            .init(replies: ["EHLO": [Self.tlsEHLO, "250-fake.test\r\n250 AUTH CRAM-MD5"]], tls: .startTLS)
        )
        defer { Task { await server.stop() } }

        await #expect(throws: SMTPError.authenticationUnavailable) {
            // MUT
            try await client(server, .startTLS).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        }
        #expect(!server.commands.contains { $0.hasPrefix("MAIL") })
    }

    @Test("a 535 to AUTH is permanent at the sign-in: it does not condemn the message")
    func authenticationRefused() async throws {
        let server = try await FakeSMTPServer.start(
            .init(
                replies: [
                    "EHLO": [Self.tlsEHLO, "250-fake.test\r\n250 AUTH PLAIN"], "AUTH": ["535 5.7.8 bad credentials"],
                ],
                tls: .startTLS
            )
        )
        defer { Task { await server.stop() } }

        let error = await #expect(throws: SMTPError.self) {
            // MUT
            try await client(server, .startTLS).send(Self.message, from: "portal@example.com", to: ["ada@example.com"])
        }
        #expect(error == .permanent(SMTPReply(code: 535, lines: ["5.7.8 bad credentials"]), during: .authentication))
        #expect(error?.rejectsMessage == false)
    }
}
