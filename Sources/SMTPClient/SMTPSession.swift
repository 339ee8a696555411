import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// One conversation with the server, one command at a time.
final class SMTPSession: Sendable {
    private let channel: any Channel
    private let replies: SMTPReplies
    private let client: SMTPClient

    private init(channel: any Channel, replies: SMTPReplies, client: SMTPClient) {
        self.channel = channel
        self.replies = replies
        self.client = client
    }

    static func open(_ client: SMTPClient) async throws -> SMTPSession {
        let replies = SMTPReplies()
        let server = client.server
        let tlsContext = try server.security == .tls ? NIOSSLContext(configuration: client.tlsConfiguration) : nil
        let bootstrap = ClientBootstrap(group: client.group)
            .connectTimeout(client.timeouts.connect)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: Self.sniName(server.host))
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SMTPReplyHandler(replies: replies))
                }
            }
        do {
            let channel = try await bootstrap.connect(host: server.host, port: server.port).get()
            return SMTPSession(channel: channel, replies: replies, client: client)
        } catch ChannelError.connectTimeout {
            throw SMTPError.timedOut(during: .connect)
        } catch {
            throw SMTPError.connectionFailed(String(describing: error))
        }
    }

    /// SNI takes a name, never an address.
    private static func sniName(_ host: String) -> String? {
        host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
    }

    /// The greeting, EHLO (or HELO), STARTTLS and the sign-in, as the server's URL asks.
    func greet() async throws {
        // `SMTPServer(url:)` refuses such a URL; a server built by hand is held to the same rule.
        guard client.server.credentials == nil || client.server.security != .none else {
            throw SMTPError.credentialsWithoutTLS
        }
        try await expect(200..<300, during: .greeting)
        var extensions = try await hello()
        if client.server.security == .startTLS {
            guard extensions.keys.contains("STARTTLS") else { throw SMTPError.startTLSUnavailable }
            try await command("STARTTLS", expect: 200..<300, during: .startTLS)
            try await startTLS()
            extensions = try await hello()
        }
        if let credentials = client.server.credentials {
            try await authenticate(credentials, offered: Set((extensions["AUTH"] ?? []).map { $0.uppercased() }))
        }
    }

    /// The envelope and the message; done when the server has accepted the data.
    func hand(over message: String, from sender: String, to recipients: [String]) async throws {
        try await command("MAIL FROM:<\(sender)>", expect: 200..<300, during: .mailFrom)
        for recipient in recipients {
            try await command("RCPT TO:<\(recipient)>", expect: 200..<300, during: .recipient)
        }
        try await command("DATA", expect: 300..<400, during: .data)
        try await write(SMTPData.encode(message), during: .message)
        try await expect(200..<300, during: .message)
    }

    /// QUIT, then the connection closes whatever the answer: the message is already delivered,
    /// so its answer is waited for only briefly (the caller marks the message once this returns).
    func quit() async {
        _ = try? await command("QUIT", expect: 200..<300, during: .message, within: .seconds(2))
        close()
    }

    func close() {
        channel.close(promise: nil)
    }

    /// EHLO's extensions by keyword (`AUTH` → its mechanisms); HELO, with none, when EHLO is refused.
    private func hello() async throws -> [String: [String]] {
        let reply = try await command("EHLO \(client.helloName)", expect: 200..<600, during: .hello)
        guard (200..<300).contains(reply.code) else {
            try await command("HELO \(client.helloName)", expect: 200..<300, during: .hello)
            return [:]
        }
        var extensions: [String: [String]] = [:]
        for line in reply.lines.dropFirst() {
            // `AUTH=PLAIN LOGIN` is how some old servers wrote `AUTH PLAIN LOGIN`.
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map(String.init)
            guard let keyword = words.first?.uppercased() else { continue }
            extensions[keyword, default: []] += words.dropFirst()
        }
        return extensions
    }

    private func startTLS() async throws {
        let context = try NIOSSLContext(configuration: client.tlsConfiguration)
        let hostname = Self.sniName(client.server.host)
        try await channel.eventLoop.submit { [channel, replies] in
            // On the event loop, so every byte read so far has been decoded: anything after the
            // "go ahead" came in the clear, and must never pass for an answer over TLS.
            guard !replies.hasUnread else {
                throw SMTPError.unexpectedReply("more than the answer to STARTTLS, in the clear", during: .startTLS)
            }
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLClientHandler(context: context, serverHostname: hostname),
                position: .first
            )
        }.get()
    }

    private func authenticate(_ credentials: SMTPServer.Credentials, offered: Set<String>) async throws {
        let username = Data(credentials.username.utf8).base64EncodedString()
        let password = Data(credentials.password.utf8).base64EncodedString()
        if offered.contains("PLAIN") {
            let plain = Data(("\0" + credentials.username + "\0" + credentials.password).utf8).base64EncodedString()
            try await command("AUTH PLAIN \(plain)", expect: 200..<300, during: .authentication)
        } else if offered.contains("LOGIN") {
            try await command("AUTH LOGIN", expect: 300..<400, during: .authentication)
            try await command(username, expect: 300..<400, during: .authentication)
            try await command(password, expect: 200..<300, during: .authentication)
        } else {
            throw SMTPError.authenticationUnavailable
        }
    }

    @discardableResult
    private func command(
        _ line: String,
        expect codes: Range<Int>,
        during stage: SMTPError.Stage,
        within limit: TimeAmount? = nil
    ) async throws
        -> SMTPReply
    {
        try await write(Array((line + "\r\n").utf8), during: stage)
        return try await expect(codes, during: stage, within: limit)
    }

    /// A write waits on the server too (a TLS handshake it stalls, a window it keeps full), so it
    /// has the same time limit as a reply: past it the connection is closed, which ends the write.
    private func write(_ bytes: [UInt8], during stage: SMTPError.Stage) async throws {
        let timedOut = NIOLockedValueBox(false)
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: written)
        let deadline = channel.eventLoop.scheduleTask(in: client.timeouts.reply) { [channel] in
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        // Cancelled on the loop as the write completes, not when this task next runs.
        written.futureResult.whenComplete { _ in deadline.cancel() }
        do {
            try await written.futureResult.get()
        } catch {
            if timedOut.withLockedValue({ $0 }) { throw SMTPError.timedOut(during: stage) }
            throw SMTPError.connectionFailed(String(describing: error))
        }
    }

    /// The next reply, which must be one of `codes`; a 4xx or 5xx outside them is a transient or
    /// permanent failure.
    @discardableResult
    private func expect(
        _ codes: Range<Int>,
        during stage: SMTPError.Stage,
        within limit: TimeAmount? = nil
    ) async throws -> SMTPReply {
        let reply: SMTPReply
        do {
            let loop = channel.eventLoop
            let limit = limit.map { min($0, client.timeouts.reply) } ?? client.timeouts.reply
            reply = try await replies.next { [replies, channel] id in
                loop.scheduleTask(in: limit) {
                    if replies.timeOut(id, with: SMTPError.timedOut(during: stage)) { channel.close(promise: nil) }
                }
            }
        } catch let error as SMTPError {
            switch error {
            case .connectionClosed: throw SMTPError.connectionClosed(during: stage)
            case .unexpectedReply(let text, _): throw SMTPError.unexpectedReply(text, during: stage)
            default: throw error
            }
        } catch let error as NIOSSLError {
            throw SMTPError.tlsFailed(String(describing: error))
        } catch {
            throw SMTPError.connectionFailed(String(describing: error))
        }
        if codes.contains(reply.code) { return reply }
        switch reply.code {
        case 400..<500: throw SMTPError.transient(reply, during: stage)
        case 500..<600: throw SMTPError.permanent(reply, during: stage)
        default: throw SMTPError.unexpectedReply(reply.description, during: stage)
        }
    }
}
