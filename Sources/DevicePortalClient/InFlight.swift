import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One URLSession request that a task cancellation ends at once, on every platform.
///
/// Two bugs of FoundationNetworking (Linux) shape it, both hit when a cancellation meets the
/// answer: its `URLSession.data(for:)` cancels the data task from inside the cancellation
/// handler, under the Swift task's status lock, and waits there for the session's queue while
/// that queue waits for the lock to resume the caller (a deadlock); and `URLSessionTask.cancel()`
/// on a task that has just completed crashes the process ("a task that is not in the registry").
/// So the cancellation handler only schedules the work; whichever of answer and cancellation
/// comes first resumes the caller; and on Linux a request already sent is left to finish on its
/// own, its answer unread: it has reached the server anyway, and no further request is made. (A
/// poll the server holds stays open that way until its answer, up to its `Prefer: wait`; should
/// the person approve meanwhile, that answer carries a token nobody reads, which then shows on
/// the portal's Your devices page until it expires or is revoked.)
final class InFlight: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<(Data, URLResponse), any Error>?
    private var task: URLSessionDataTask?
    private var cancelled = false

    static func load(_ request: URLRequest, with session: URLSession) async throws -> (Data, URLResponse) {
        let inFlight = InFlight()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                inFlight.start(request, with: session, continuation: continuation)
            }
        } onCancel: {
            DispatchQueue.global().async { inFlight.cancel() }
        }
    }

    private func start(
        _ request: URLRequest,
        with session: URLSession,
        continuation: CheckedContinuation<(Data, URLResponse), any Error>
    ) {
        let task = session.dataTask(with: request) { [self] data, response, error in
            finish(data: data, response: response, error: error)
        }
        task.delegate = RedirectRefusal.shared
        let proceed = lock.withLock {
            guard !cancelled, !Task.isCancelled else { return false }
            self.continuation = continuation
            self.task = task
            return true
        }
        if proceed {
            task.resume()
        } else {
            continuation.resume(throwing: CancellationError())
        }
    }

    private func cancel() {
        let (continuation, task) = lock.withLock {
            cancelled = true
            defer {
                self.continuation = nil
                self.task = nil
            }
            return (self.continuation, self.task)
        }
        continuation?.resume(throwing: CancellationError())
        #if !canImport(FoundationNetworking)
            task?.cancel()
        #endif
    }

    private func finish(data: Data?, response: URLResponse?, error: (any Error)?) {
        let continuation = lock.withLock {
            defer { self.continuation = nil }
            return self.continuation
        }
        guard let continuation else { return }
        if let error {
            let urlError = error as? URLError ?? URLError(.unknown, userInfo: [NSUnderlyingErrorKey: error])
            continuation.resume(
                throwing: urlError.code == .cancelled ? CancellationError() : PortalClientError.network(urlError)
            )
        } else if let response {
            continuation.resume(returning: (data ?? Data(), response))
        } else {
            continuation.resume(throwing: PortalClientError.network(URLError(.badServerResponse)))
        }
    }
}
