import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SMTPClient
import Vapor

/// Sends what the outbox holds, while the server runs: every couple of seconds it claims due
/// messages one at a time and hands each to the transport. A crash between the server's
/// acceptance and the mark sends that message again once its lease runs out, with the same
/// Message-ID, which receivers use to drop the copy.
struct OutboxSender: LifecycleHandler {
    static let interval: TimeAmount = .seconds(2)
    /// A round stops after this many, so that shutdown never waits long for it.
    static let messagesPerRound = 50
    /// Set at shutdown: a round then stops after the message it is sending.
    private let stopping = NIOLockedValueBox(false)
    private let rounds = PeriodicRounds()

    func didBootAsync(_ application: Application) async throws {
        rounds.start(on: application.eventLoopGroup.next(), after: .seconds(1), every: Self.interval) {
            [stopping] in
            await Self.round(application, until: { stopping.withLockedValue { $0 } })
        }
    }

    /// Waits for a round in progress: its message is either marked or left to its lease.
    func shutdownAsync(_ application: Application) async {
        stopping.withLockedValue { $0 = true }
        await rounds.stop(on: application.eventLoopGroup.any())
    }

    /// Sends due messages until none is left or the round's share is done; how many were sent.
    @discardableResult
    static func round(
        _ application: Application,
        at now: @Sendable () -> Date = { Date() },
        until stopping: @Sendable () -> Bool = { false }
    ) async -> Int {
        guard let config = application.config.mail, let transport = application.mailTransport else { return 0 }
        var sent = 0
        do {
            guard try await Outbox.hasDue(at: now(), on: application.db) else { return 0 }
            for _ in 0..<messagesPerRound where !stopping() {
                guard let message = try await Outbox.claim(at: now(), on: application.db) else { break }
                let outcome = await deliver(message, from: config.from, with: transport)
                let marked = try await Outbox.record(outcome, for: message, at: now(), on: application.db)
                report(outcome, of: message, marked: marked, application)
                if outcome == .sent { sent += 1 }
            }
        } catch {
            application.logger.warning("outbox: \(String(reflecting: error))")
        }
        return sent
    }

    private static func deliver(
        _ message: Outbox.Claimed,
        from sender: MailAddress,
        with transport: any MailTransport
    ) async
        -> Outbox.Outcome
    {
        do {
            let domain = sender.address.split(separator: "@").last.map(String.init) ?? "localhost"
            try await transport.send(
                MailMessage(
                    from: sender,
                    to: [MailAddress(message.recipient)],
                    subject: message.subject,
                    text: message.text,
                    html: message.html,
                    date: message.createdAt,
                    messageID: "outbox-\(message.id.uuidString.lowercased())@\(domain)"
                )
            )
            return .sent
        } catch let error as SMTPError where error.rejectsMessage {
            return .rejected(error.description)
        } catch let error as MailError {
            return .rejected(error.description)
        } catch {
            return .failed(String(describing: error))
        }
    }

    /// Servers' answers often repeat the recipient; emails never go to the logs (the row keeps the answer).
    static func withoutAddresses(_ text: String) -> String {
        text.replacing(/[^\s<>@"()]+@[^\s<>@"()]+/, with: "(address)")
    }

    private static func report(_ outcome: Outbox.Outcome, of message: Outbox.Claimed, marked: Bool, _ app: Application)
    {
        let id = message.id.uuidString.lowercased()
        switch outcome {
        case .sent:
            app.metrics.mailSent()
            app.logger.info("outbox: sent \(message.kind) message \(id)")
        case .failed(let error):
            app.metrics.mailFailed(message.attempts + 1 >= Outbox.maximumAttempts ? .gaveUp : .retry)
            app.logger.warning(
                "outbox: \(message.kind) message \(id), attempt \(message.attempts + 1): \(withoutAddresses(error))"
            )
        case .rejected(let error):
            app.metrics.mailFailed(.rejected)
            app.logger.error("outbox: \(message.kind) message \(id) refused, not retried: \(withoutAddresses(error))")
        }
        if !marked { app.logger.warning("outbox: the lease on message \(id) ran out before its outcome was recorded") }
    }
}
