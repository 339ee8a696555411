import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Hands messages to one SMTP server: a connection per call, EHLO (HELO when refused),
/// STARTTLS or TLS as the server's URL says, AUTH PLAIN (LOGIN when only that is offered),
/// the envelope and DATA, QUIT. Every wait is bounded.
public struct SMTPClient: Sendable {
    public struct Timeouts: Sendable {
        public var connect: TimeAmount
        /// For each reply, the greeting and the one after the message included.
        public var reply: TimeAmount

        public init(connect: TimeAmount = .seconds(10), reply: TimeAmount = .seconds(60)) {
            self.connect = connect
            self.reply = reply
        }
    }

    public let server: SMTPServer
    public var timeouts: Timeouts
    /// The name this side gives in EHLO.
    public var helloName: String
    public var tlsConfiguration: TLSConfiguration
    let group: any EventLoopGroup

    public init(
        server: SMTPServer,
        timeouts: Timeouts = Timeouts(),
        helloName: String = "localhost",
        tlsConfiguration: TLSConfiguration = .makeClientConfiguration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.server = server
        self.timeouts = timeouts
        self.helloName = helloName
        self.tlsConfiguration = tlsConfiguration
        self.group = group
    }

    /// Sends `message` to its `To` addresses, with its `From` as the envelope sender.
    public func send(_ message: MailMessage) async throws {
        try await send(
            message.rendered(),
            from: message.from.address,
            to: message.to.map(\.address)
        )
    }

    /// Sends a message that is already an RFC 5322 text. Returns once the server has taken
    /// responsibility for it (its reply to the end of the data); throws `SMTPError` otherwise.
    public func send(_ message: String, from sender: String, to recipients: [String]) async throws {
        guard MailAddress.isValid(sender) || sender.isEmpty else { throw MailError.invalidAddress(sender) }
        for recipient in recipients where !MailAddress.isValid(recipient) {
            throw MailError.invalidAddress(recipient)
        }
        let session = try await SMTPSession.open(self)
        do {
            try await session.greet()
            try await session.hand(over: message, from: sender, to: recipients)
        } catch {
            session.close()
            throw error
        }
        await session.quit()
    }
}
