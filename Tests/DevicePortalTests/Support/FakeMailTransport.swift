import NIOConcurrencyHelpers
import SMTPClient

@testable import DevicePortal

/// Takes messages as an SMTP server would, and fails the next attempts as a test asks.
final class FakeMailTransport: MailTransport {
    private struct State {
        var sent: [MailMessage] = []
        var failures: [any Error] = []
        var attempts = 0
    }

    private let state = NIOLockedValueBox(State())
    /// How long each hand-over takes, so that senders running at once overlap.
    let delay: Duration

    init(delay: Duration = .zero) {
        self.delay = delay
    }

    var sent: [MailMessage] { state.withLockedValue { $0.sent } }
    var attempts: Int { state.withLockedValue { $0.attempts } }

    /// The next attempts throw these, in order.
    func fail(with errors: any Error...) {
        state.withLockedValue { $0.failures += errors }
    }

    func send(_ message: MailMessage) async throws {
        if delay > .zero { try await Task.sleep(for: delay) }
        try state.withLockedValue { state in
            state.attempts += 1
            if !state.failures.isEmpty { throw state.failures.removeFirst() }
            state.sent.append(message)
        }
    }
}

extension PortalConfig {
    /// Mail on, to a server nobody connects to: tests put a `FakeMailTransport` in its place.
    mutating func mailOn() {
        mail = MailConfig(
            server: SMTPServer(host: "127.0.0.1", port: 9, security: .none),
            from: try! MailAddress("portal@example.com", displayName: "Device Portal")
        )
    }
}
