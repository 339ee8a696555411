/// Why a message was not handed over. A 4xx reply (`transient`) means "try again later", a 5xx
/// (`permanent`) "not like this"; both say at which step it came, because a 5xx to the
/// message (`MAIL FROM`, `RCPT TO`, `DATA`) condemns the message while one to the greeting or
/// the sign-in condemns only this configuration.
public enum SMTPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Stage: String, Sendable {
        case connect, greeting, hello, startTLS = "STARTTLS", authentication, mailFrom = "MAIL FROM"
        case recipient = "RCPT TO", data = "DATA", message = "end of data"
    }

    case transient(SMTPReply, during: Stage)
    case permanent(SMTPReply, during: Stage)
    /// A reply outside what the step allows (a 3xx where a 2xx was due), or not a reply at all.
    case unexpectedReply(String, during: Stage)
    case timedOut(during: Stage)
    case connectionFailed(String)
    case connectionClosed(during: Stage)
    /// `smtp+starttls://` and the server does not offer STARTTLS: nothing is sent in clear.
    case startTLSUnavailable
    /// Credentials given and the server offers neither AUTH PLAIN nor AUTH LOGIN.
    case authenticationUnavailable
    /// Credentials for a server reached without TLS: they are never sent in clear.
    case credentialsWithoutTLS
    case tlsFailed(String)

    /// The server refused this message itself: sending it again would get the same answer.
    public var rejectsMessage: Bool {
        guard case .permanent(_, let stage) = self else { return false }
        return [.mailFrom, .recipient, .data, .message].contains(stage)
    }

    public var description: String {
        switch self {
        case .transient(let reply, let stage): "temporary failure at \(stage.rawValue): \(reply)"
        case .permanent(let reply, let stage): "permanent failure at \(stage.rawValue): \(reply)"
        case .unexpectedReply(let text, let stage): "unexpected reply at \(stage.rawValue): \(text)"
        case .timedOut(let stage): "no answer in time at \(stage.rawValue)"
        case .connectionFailed(let reason): "cannot connect: \(reason)"
        case .connectionClosed(let stage): "the server closed the connection at \(stage.rawValue)"
        case .startTLSUnavailable: "the server does not offer STARTTLS"
        case .authenticationUnavailable: "the server offers neither AUTH PLAIN nor AUTH LOGIN"
        case .credentialsWithoutTLS: "credentials are only ever sent over TLS (smtp+starttls:// or smtps://)"
        case .tlsFailed(let reason): "TLS failed: \(reason)"
        }
    }
}
