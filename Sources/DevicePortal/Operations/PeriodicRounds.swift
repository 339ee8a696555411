import NIOConcurrencyHelpers
import NIOCore

/// A job run in rounds on one event loop while the server runs (housekeeping, the outbox
/// sender), whose `stop` waits for a round in progress. NIO's `RepeatedTask.cancel` does not:
/// it completes at once, and the shutdown that follows would close the database under the round.
final class PeriodicRounds: Sendable {
    private struct State {
        var task: RepeatedTask?
        var running: EventLoopFuture<Void>?
    }

    private let state = NIOLockedValueBox(State())

    func start(
        on eventLoop: any EventLoop,
        after initialDelay: TimeAmount,
        every delay: TimeAmount,
        _ round: @escaping @Sendable () async -> Void
    ) {
        let task = eventLoop.scheduleRepeatedAsyncTask(initialDelay: initialDelay, delay: delay) { [state] _ in
            let running = eventLoop.makeFutureWithTask { await round() }
            state.withLockedValue { $0.running = running }
            return running
        }
        state.withLockedValue { $0.task = task }
    }

    /// No round starts after this; returns once the last one has finished.
    func stop(on eventLoop: any EventLoop) async {
        guard let task = state.withLockedValue({ $0.task }) else { return }
        let cancelled = eventLoop.makePromise(of: Void.self)
        task.cancel(promise: cancelled)
        try? await cancelled.futureResult.get()
        // Cancelled on its loop: `running` is the last round there will be.
        try? await state.withLockedValue({ $0.running })?.get()
    }
}
