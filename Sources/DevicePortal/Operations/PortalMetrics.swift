import CoreMetrics
import Foundation
import Prometheus
import Vapor

/// The portal's Prometheus metrics. Each application has its own registry (so tests and
/// several apps in one process never share counts); events are recorded through swift-metrics
/// with that registry's factory. Every label value comes from a closed set: route patterns,
/// status codes and the reasons below, never a token, code, email or id.
final class PortalMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Also used by the metrics of other files (`PortalMetrics+Identity.swift`).
    let factory: PrometheusMetricsFactory

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // A held poll waits up to 30 s: buckets of its own, beyond the requests' 10 s.
        factory.durationHistogramBuckets["portal_device_poll_held_seconds"] = [
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
            .seconds(5), .seconds(10), .seconds(20), .seconds(30),
        ]
        self.factory = factory
        // Every series of a closed set exists from the start, at 0, so `rate()` sees its first event.
        for step in DeviceFlowStep.allCases { deviceFlow(step, count: 0) }
        for reason in RevocationReason.allCases { tokensRevoked(0, reason: reason) }
        for reason in GuardFailure.allCases { guardFailure(reason, count: 0) }
        for limit in Limit.allCases { rateLimitRefusal(limit, count: 0) }
        tokensIssued(count: 0)
        identitySeriesAtZero()
        mailSent(count: 0)
        for failure in MailFailure.allCases { mailFailed(failure, count: 0) }
    }

    /// Steps of the device-flow funnel.
    enum DeviceFlowStep: String, CaseIterable {
        case issued, approved, denied, exchanged
        /// Past its expiry without ever being exchanged (counted once, by housekeeping).
        case expiredUnused = "expired_unused"
    }

    /// Why tokens stopped working: the stored revocation reasons, and the purge of expired ones.
    enum RevocationReason: String, CaseIterable {
        case signOut = "sign_out"
        case user
        case memberRemoved = "member_removed"
        case admin
        case expiryPurge = "expiry_purge"

        init(_ reason: APIToken.RevocationReason) {
            switch reason {
            case .signOut: self = .signOut
            case .user: self = .user
            case .memberRemoved: self = .memberRemoved
            case .admin: self = .admin
            }
        }
    }

    /// Why the guard refused a credential.
    enum GuardFailure: String, CaseIterable {
        case missing, malformed, unknown, expired, revoked
        case notAMember = "not_a_member"
    }

    /// The limits whose refusals are counted.
    enum Limit: String, CaseIterable {
        case wrongUserCode = "wrong_user_code"
        case signIn = "sign_in"
        case deviceCode = "device_code"
    }

    /// How an attempt to send a message from the outbox failed.
    enum MailFailure: String, CaseIterable {
        /// A temporary failure (4xx, no connection, a time-out): tried again after the back-off.
        case retry
        /// Refused for good by the server (5xx to the message) or not a valid message.
        case rejected
        /// The last retry failed too.
        case gaveUp = "gave_up"
    }

    func deviceFlow(_ step: DeviceFlowStep, count: Int = 1) {
        increment("portal_device_flow_total", ("step", step.rawValue), by: count)
    }

    func tokensIssued(count: Int = 1) {
        increment("portal_tokens_issued_total", by: count)
    }

    func tokensRevoked(_ count: Int, reason: RevocationReason) {
        increment("portal_tokens_revoked_total", ("reason", reason.rawValue), by: count)
    }

    func guardFailure(_ reason: GuardFailure, count: Int = 1) {
        increment("portal_guard_failures_total", ("reason", reason.rawValue), by: count)
    }

    func rateLimitRefusal(_ limit: Limit, count: Int = 1) {
        increment("portal_rate_limit_refusals_total", ("limit", limit.rawValue), by: count)
    }

    func mailSent(count: Int = 1) {
        increment("portal_mail_sent_total", by: count)
    }

    func mailFailed(_ failure: MailFailure, count: Int = 1) {
        increment("portal_mail_failed_total", ("outcome", failure.rawValue), by: count)
    }

    /// Messages in the outbox, neither sent nor given up (the whole deployment's), set at scrape time.
    func setMailQueued(_ count: Int) {
        Gauge(label: "portal_mail_queued", factory: factory).record(count)
    }

    func request(method: HTTPMethod, route: String, status: HTTPStatus, duration: Duration) {
        let labels = [("method", method.rawValue), ("route", route), ("status", String(status.code))]
        Counter(label: "portal_http_requests_total", dimensions: labels, factory: factory).increment()
        Timer(label: "portal_http_request_duration_seconds", dimensions: labels, factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    /// A poll held by `Prefer: wait`, answered: how it ended and how long it waited.
    func heldPoll(_ wake: HeldPolls.Wake, waited: Duration) {
        let outcome =
            switch wake {
            case .decided: "decided"
            case .timedOut: "timed_out"
            case .shuttingDown: "shutting_down"
            }
        Timer(label: "portal_device_poll_held_seconds", dimensions: [("outcome", outcome)], factory: factory)
            .recordNanoseconds(waited.nanoseconds)
    }

    /// Polls this instance holds now (`Prefer: wait`), set at scrape time.
    func setHeldPolls(_ count: Int) {
        Gauge(label: "portal_device_polls_held", factory: factory).record(count)
    }

    /// Gauges of the whole deployment (every instance reads the same database), set at scrape time.
    func setStock(activeTokens: Int, pendingDeviceCodes: Int) {
        Gauge(label: "portal_active_tokens", factory: factory).record(activeTokens)
        Gauge(label: "portal_pending_device_codes", factory: factory).record(pendingDeviceCodes)
    }

    func increment(_ name: String, _ label: (String, String)? = nil, by count: Int = 1) {
        Counter(label: name, dimensions: label.map { [$0] } ?? [], factory: factory).increment(by: count)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension Application {
    private struct MetricsKey: StorageKey {
        typealias Value = PortalMetrics
    }

    /// This application's metrics; created by `configure`.
    var metrics: PortalMetrics {
        get { configured(MetricsKey.self) }
        set { storage[MetricsKey.self] = newValue }
    }
}

extension Request {
    var metrics: PortalMetrics { application.metrics }
}
