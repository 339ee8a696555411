import Foundation

/// What one poll of the token endpoint told the waiting client, for a progress display.
public enum PollEvent: Equatable, Sendable {
    /// Not approved yet; the next poll comes `next` from now.
    case pending(next: Duration)
    /// The server said `slow_down`: polls are now `interval` apart, for good.
    case slowDown(interval: Duration)
    /// The poll failed (no connection, or a server error); the next try comes `next` from now.
    case retrying(next: Duration, reason: String)
}

extension PortalClient {
    /// Polls in a row that may fail (network, 5xx, 429) before the wait gives up.
    static let maxFailedPolls = 4
    /// The longest pause after failed polls (or asked by `Retry-After`).
    static let maxBackoff = Duration.seconds(60)
    /// The interval that `slow_down` grows no further than.
    static let longestInterval = Duration.seconds(DeviceSignIn.intervalBounds.upperBound)

    /// Polls the token endpoint until the person approves or denies, or the code expires
    /// (RFC 8628 §3.4, §3.5). It waits `interval` before the first poll and between polls,
    /// counted from the previous answer, so the server never sees a poll early; adds 5 s on
    /// every `slow_down`, up to 60 s; doubles the pause after a failed poll, up to 60 s (a
    /// `Retry-After` too); never polls once the code has expired, and returns at its expiry at the
    /// latest (24 hours at most). Cancelling the calling task stops it at once.
    ///
    /// Throws `PortalClientError.accessDenied`, `.expired`, `.invalidClient`, `.network` (after 4
    /// failed polls in a row), `.unexpectedResponse` (a 5xx or 429 4 times in a row, another answer
    /// that is no OAuth error, a token answer that does not decode), `.oauth` (another OAuth error,
    /// such as `invalid_grant`), `.invalidToken`, `.redirected` or `.insecureTransport`;
    /// `CancellationError` when cancelled.
    public func waitForToken(
        _ signIn: DeviceSignIn, onPoll: @Sendable (PollEvent) -> Void = { _ in }
    ) async throws -> SignedIn {
        var interval = Duration.seconds(signIn.interval)
        let expiry = signIn.requestedAt + .seconds(signIn.expiresIn)
        var lastAnswer = signIn.receivedAt
        var pause = interval
        var failedPolls = 0
        while true {
            let pollAt = lastAnswer + pause
            guard pollAt < expiry else {
                // The code is dead before the next poll is due: no poll, and the answer at expiry.
                let left = expiry - clock.now()
                if left > .zero { try await clock.sleep(for: left) }
                throw PortalClientError.expired
            }
            let wait = pollAt - clock.now()
            if wait > .zero { try await clock.sleep(for: wait) }

            let answer: HTTPExchange.Answer
            do {
                answer = try await http.postForm(
                    signIn.tokenEndpoint,
                    [
                        ("grant_type", Self.deviceCodeGrant), ("device_code", signIn.deviceCode),
                        ("client_id", clientID),
                    ])
            } catch PortalClientError.network(let error) {
                // RFC 8628 §3.5: after a connection failure, poll less often before retrying.
                lastAnswer = clock.now()
                failedPolls += 1
                guard failedPolls < Self.maxFailedPolls else { throw PortalClientError.network(error) }
                pause = backoff(interval, failedPolls)
                onPoll(.retrying(next: pause, reason: error.localizedDescription))
                continue
            }
            lastAnswer = clock.now()

            if answer.status == 200 { return try answer.decode(SignedIn.self) }
            if answer.status >= 500 || answer.status == 429 {
                failedPolls += 1
                guard failedPolls < Self.maxFailedPolls else { throw Self.failure(answer) }
                let retryAfter = answer.retryAfter(atMost: Int(Self.maxBackoff.components.seconds)) ?? 0
                pause = max(backoff(interval, failedPolls), .seconds(retryAfter))
                onPoll(.retrying(next: pause, reason: "HTTP \(answer.status)"))
                continue
            }
            failedPolls = 0
            switch answer.oauthError?.error {
            case "authorization_pending":
                pause = interval
                onPoll(.pending(next: pause))
            case "slow_down":
                interval = min(interval + .seconds(5), Self.longestInterval)
                pause = interval
                onPoll(.slowDown(interval: interval))
            default:
                throw Self.failure(answer)
            }
        }
    }

    /// The interval doubled for each failed poll in a row, at most a minute (or the interval, if longer).
    private func backoff(_ interval: Duration, _ failedPolls: Int) -> Duration {
        let doubled = interval * (1 << min(failedPolls, 10))
        return min(doubled, max(interval, Self.maxBackoff))
    }
}
