import SMTPClient
import Vapor

/// Whatever hands a message over: the SMTP client in production, a fake in tests.
protocol MailTransport: Sendable {
    /// Returns once the receiving server has taken the message; throws `SMTPError` or `MailError`.
    func send(_ message: MailMessage) async throws
}

extension SMTPClient: MailTransport {}

extension Application {
    private struct MailTransportKey: StorageKey {
        typealias Value = any MailTransport
    }

    /// Set by `configure` when `SMTP_URL` is; a test replaces it.
    var mailTransport: (any MailTransport)? {
        get { storage[MailTransportKey.self] }
        set { storage[MailTransportKey.self] = newValue }
    }
}

extension Application {
    /// The name the portal gives in EHLO: the host of `PUBLIC_BASE_URL`.
    var mailHelloName: String {
        config.publicBaseURL.flatMap { URLComponents(string: $0)?.host } ?? "localhost"
    }
}
