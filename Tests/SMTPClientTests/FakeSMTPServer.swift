import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

@testable import SMTPClient

/// An SMTP server on 127.0.0.1 that answers as a test scripts it, and records what it heard.
/// Replies are keyed by the command's verb (`EHLO`, `MAIL`, `RCPT`, `DATA`, `QUIT`, …, and
/// `.` for the end of the data); each scripted reply is used once, in order, then the default.
/// A reply of `nil` is silence. Lines that are no command (the answers of AUTH LOGIN) get the
/// replies scripted under `*`. With `tls`, it speaks TLS from the first byte, or after a
/// `STARTTLS` it answered with 220, with `TestCertificate`'s certificate for `localhost`; without,
/// a 220 to STARTTLS is followed by no handshake at all.
final class FakeSMTPServer: Sendable {
    struct Script: Sendable {
        enum TLS: Sendable { case none, implicit, startTLS }
        var greeting: String? = "220 fake.test ESMTP ready"
        var replies: [String: [String?]] = [:]
        var tls: TLS = .none
    }

    static let defaults: [String: String] = [
        "EHLO": "250-fake.test greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME",
        "HELO": "250 fake.test", "STARTTLS": "220 2.0.0 go ahead", "AUTH": "235 2.7.0 ok", "MAIL": "250 2.1.0 ok",
        "RCPT": "250 2.1.5 ok", "DATA": "354 go ahead",
        ".": "250 2.0.0 queued", "QUIT": "221 2.0.0 bye", "RSET": "250 ok", "NOOP": "250 ok",
    ]

    private struct State {
        var script: Script
        var commands: [String] = []
        /// Each message's data as it came over the wire (still dot-stuffed), lines joined by CRLF.
        var messages: [String] = []
        var connections = 0
    }

    private let state: NIOLockedValueBox<State>
    private let channel: any Channel
    let port: Int

    private init(state: NIOLockedValueBox<State>, channel: any Channel) {
        self.state = state
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
    }

    static func start(_ script: Script = Script()) async throws -> FakeSMTPServer {
        let state = NIOLockedValueBox(State(script: script))
        let tls = try NIOSSLContext(configuration: TestCertificate.serverConfiguration())
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if script.tls == .implicit {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(Connection(server: state, tls: tls))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeSMTPServer(state: state, channel: channel)
    }

    var commands: [String] { state.withLockedValue { $0.commands } }
    var messages: [String] { state.withLockedValue { $0.messages } }
    var connections: Int { state.withLockedValue { $0.connections } }

    func stop() async {
        try? await channel.close()
    }

    private final class Connection: ChannelInboundHandler {
        typealias InboundIn = String
        let server: NIOLockedValueBox<State>
        let tls: NIOSSLContext
        var data: [String]?

        init(server: NIOLockedValueBox<State>, tls: NIOSSLContext) {
            self.server = server
            self.tls = tls
        }

        func channelActive(context: ChannelHandlerContext) {
            let greeting = server.withLockedValue { state in
                state.connections += 1
                return state.script.greeting
            }
            send(greeting, context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let line = unwrapInboundIn(data)
            if var lines = self.data {
                guard line == "." else {
                    lines.append(line)
                    self.data = lines
                    return
                }
                self.data = nil
                server.withLockedValue { $0.messages.append(lines.joined(separator: "\r\n")) }
                send(reply(to: "."), context: context)
                return
            }
            server.withLockedValue { $0.commands.append(line) }
            let verb = String(line.prefix(while: { $0 != " " })).uppercased()
            let answer = reply(to: verb)
            if verb == "DATA", answer?.hasPrefix("354") == true { self.data = [] }
            send(answer, context: context)
            if verb == "QUIT" { context.close(promise: nil) }
            if verb == "STARTTLS", answer?.hasPrefix("220") == true,
                server.withLockedValue({ $0.script.tls == .startTLS })
            {
                // The 220 has gone out in clear; everything after it is TLS.
                try? context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first)
            }
        }

        private func reply(to verb: String) -> String? {
            server.withLockedValue { state in
                if var scripted = state.script.replies[verb], !scripted.isEmpty {
                    let next = scripted.removeFirst()
                    state.script.replies[verb] = scripted
                    return next
                }
                if let reply = FakeSMTPServer.defaults[verb] { return reply }
                if var other = state.script.replies["*"], !other.isEmpty {
                    let next = other.removeFirst()
                    state.script.replies["*"] = other
                    return next
                }
                return "500 5.5.2 unknown command"
            }
        }

        private func send(_ reply: String?, context: ChannelHandlerContext) {
            guard let reply else { return }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply + "\r\n")), promise: nil)
        }

        typealias OutboundOut = ByteBuffer
    }
}
