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

    /// The seconds a poll asks the server to hold it (RFC 7240 `Prefer: wait=25`) while the code
    /// is pending: a server that applies it (DevicePortal holds up to 30 s) answers the moment
    /// the person approves or denies. 25 s stays under the 30 s that some proxies and hosting
    /// platforms allow a request.
    public static let pollWait = 25

    /// Polls the token endpoint until the person approves or denies, or the code expires
    /// (RFC 8628 §3.4, §3.5). It waits `interval` before the first poll and between polls,
    /// counted from the previous answer, so the server never sees a poll early; adds 5 s on
    /// every `slow_down`, up to 60 s; doubles the pause after a failed poll, up to 60 s (a
    /// `Retry-After` too); never polls once the code has expired, and returns at its expiry at the
    /// latest (24 hours at most). Cancelling the calling task stops it at once.
    ///
    /// Every poll carries `Prefer: wait=25` (`pollWait`), cut to the code's remaining lifetime,
    /// and waits for its answer that much longer than for other requests. A server that holds
    /// the poll answers an approval made meanwhile at once; the interval still counts from each
    /// answer, held or not, as the server counts it (so `Preference-Applied` changes nothing
    /// here). Against a server that does not hold polls this is plain polling. A held poll cut
    /// off on the way (a timeout, a lost connection, HTTP 502 or 504: a proxy that allows less
    /// than the wait) counts as a failed poll, and the polls after it ask for no wait.
    ///
    /// Throws `PortalClientError.accessDenied`, `.expired`, `.invalidClient`, `.network` (after 4
    /// failed polls in a row), `.unexpectedResponse` (a 5xx or 429 4 times in a row, another answer
    /// that is no OAuth error, a token answer that does not decode), `.oauth` (another OAuth error,
    /// such as `invalid_grant`), `.invalidToken`, `.redirected` or `.insecureTransport`;
    /// `CancellationError` when cancelled.
    public func waitForToken(
        _ signIn: DeviceSignIn,
        onPoll: @Sendable (PollEvent) -> Void = { _ in }
    ) async throws -> SignedIn {
        var interval = Duration.seconds(signIn.interval)
        let expiry = signIn.requestedAt + .seconds(signIn.expiresIn)
        var lastAnswer = signIn.receivedAt
        var pause = interval
        var failedPolls = 0
        var asksToWait = true
        while true {
            let pollAt = lastAnswer + pause
            guard pollAt < expiry else {
                // The code is dead before the next poll is due: no poll, and the answer at expiry.
                let left = expiry - clock.now()
                if left > .zero { try await clock.sleep(for: left) }
                throw PortalClientError.expired
            }
            let untilPoll = pollAt - clock.now()
            if untilPoll > .zero { try await clock.sleep(for: untilPoll) }

            // Held no longer than the code lives (on this clock, which never counts it longer than
            // the server), so that the wait still ends at the expiry.
            let wait = asksToWait ? min(Self.pollWait, Int((expiry - clock.now()).components.seconds)) : 0
            let answer: HTTPExchange.Answer
            do {
                answer = try await http.postForm(
                    signIn.tokenEndpoint,
                    [
                        ("grant_type", Self.deviceCodeGrant), ("device_code", signIn.deviceCode),
                        ("client_id", clientID),
                    ],
                    wait: wait > 0 ? wait : nil
                )
            } catch PortalClientError.network(let error) {
                // RFC 8628 §3.5: after a connection failure, poll less often before retrying.
                lastAnswer = clock.now()
                failedPolls += 1
                if wait > 0, Self.cutsOffHeldPolls(error.code) { asksToWait = false }
                guard failedPolls < Self.maxFailedPolls else { throw PortalClientError.network(error) }
                pause = backoff(interval, failedPolls)
                onPoll(.retrying(next: pause, reason: error.localizedDescription))
                continue
            }
            lastAnswer = clock.now()

            if answer.status == 200 { return try answer.decode(SignedIn.self) }
            if answer.status >= 500 || answer.status == 429 {
                if wait > 0, Self.cutsOffHeldPolls(status: answer.status) { asksToWait = false }
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

    /// Whether a poll that asked to be held failed as one cut off on the way does: by a proxy or
    /// platform that gives a request less time than the wait (it times out, drops the connection,
    /// or answers for the server it gave up on). Other failures (refused connections, a 500 or 503
    /// of the server itself) say nothing about holding.
    static func cutsOffHeldPolls(_ error: URLError.Code) -> Bool {
        [.timedOut, .networkConnectionLost].contains(error)
    }

    /// See `cutsOffHeldPolls(_:)`: 502 Bad Gateway and 504 Gateway Timeout come from something between.
    static func cutsOffHeldPolls(status: Int) -> Bool {
        [502, 504].contains(status)
    }

    /// The interval doubled for each failed poll in a row, at most a minute (or the interval, if longer).
    private func backoff(_ interval: Duration, _ failedPolls: Int) -> Duration {
        let doubled = interval * (1 << min(failedPolls, 10))
        return min(doubled, max(interval, Self.maxBackoff))
    }
}
