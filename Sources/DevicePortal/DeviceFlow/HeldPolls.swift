import NIOConcurrencyHelpers
import NIOCore

/// Polls held open by `Prefer: wait` (RFC 7240) until their code is decided. A held poll keeps
/// no thread and no database connection, only a continuation, keyed by the code's hash; an
/// approval or a denial wakes it (on this instance directly, from another through PostgreSQL's
/// `NOTIFY`), and its time limit answers it otherwise. At most `limit` are held at once.
///
/// A poll registers *before* its statement runs, so a decision that commits between that
/// statement and the wait is not lost: the ticket remembers it and the wait returns at once.
final class HeldPolls: Sendable {
    enum Wake: Sendable {
        case decided, timedOut, shuttingDown
    }

    struct Ticket: Sendable {
        fileprivate let key: String
        fileprivate let id: Int
    }

    private struct Waiter {
        var woken: Wake?
        var continuation: CheckedContinuation<Wake, Never>?
        var timer: Scheduled<Void>?
    }

    private struct State {
        var waiters: [String: [Int: Waiter]] = [:]
        var count = 0
        var nextID = 0
        var closed = false
    }

    let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Polls registered now.
    var count: Int { state.withLockedValue { $0.count } }

    /// The codes that held polls wait for, for a re-check after the listener reconnected.
    var keys: [String] { state.withLockedValue { Array($0.waiters.keys) } }

    /// A place in the registry for a poll of the code with this hash; `nil` when `limit` polls
    /// are held already (or the server is shutting down): that poll is answered at once.
    func register(_ key: String) -> Ticket? {
        state.withLockedValue { state in
            guard !state.closed, state.count < limit else { return nil }
            state.nextID += 1
            state.count += 1
            state.waiters[key, default: [:]][state.nextID] = Waiter()
            return Ticket(key: key, id: state.nextID)
        }
    }

    /// Waits until the code is decided, `timeout` passes, or the server shuts down; the ticket
    /// is spent then.
    func wait(_ ticket: Ticket, upTo timeout: TimeAmount, on eventLoop: any EventLoop) async -> Wake {
        await withCheckedContinuation { continuation in
            let early: Wake? = state.withLockedValue { state in
                guard let waiter = state.waiters[ticket.key]?[ticket.id] else { return .shuttingDown }
                if let woken = waiter.woken { return woken }
                state.waiters[ticket.key]?[ticket.id]?.continuation = continuation
                state.waiters[ticket.key]?[ticket.id]?.timer = eventLoop.scheduleTask(in: timeout) {
                    self.finish(ticket, .timedOut)
                }
                return nil
            }
            if let early {
                release(ticket)
                continuation.resume(returning: early)
            }
        }
    }

    /// Gives a ticket back without waiting (the poll was answered at once after all).
    func release(_ ticket: Ticket) {
        _ = take(ticket)
    }

    /// The code with this hash was decided: every poll held for it is answered now.
    func wake(_ key: String) {
        let ids = state.withLockedValue { state -> [Int] in
            guard let waiters = state.waiters[key] else { return [] }
            for id in waiters.keys where waiters[id]?.continuation == nil {
                state.waiters[key]?[id]?.woken = .decided  // registered, not waiting yet
            }
            return waiters.compactMap { $0.value.continuation == nil ? nil : $0.key }
        }
        for id in ids { finish(Ticket(key: key, id: id), .decided) }
    }

    /// Shutting down: every held poll is answered at once, and none is held from now on.
    func releaseAll() {
        let tickets = state.withLockedValue { state -> [Ticket] in
            state.closed = true
            return state.waiters.flatMap { key, waiters in waiters.keys.map { Ticket(key: key, id: $0) } }
        }
        for ticket in tickets { finish(ticket, .shuttingDown) }
    }

    private func finish(_ ticket: Ticket, _ wake: Wake) {
        guard let waiter = take(ticket) else { return }
        waiter.timer?.cancel()
        waiter.continuation?.resume(returning: wake)
    }

    private func take(_ ticket: Ticket) -> Waiter? {
        state.withLockedValue { state in
            guard let waiter = state.waiters[ticket.key]?.removeValue(forKey: ticket.id) else { return nil }
            if state.waiters[ticket.key]?.isEmpty == true { state.waiters[ticket.key] = nil }
            state.count -= 1
            return waiter
        }
    }
}
