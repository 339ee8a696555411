import CoreMetrics

/// Which identity provider a metric is about: the one people sign in with, or the issuer of
/// the company's session JWTs (often the same provider, configured twice).
enum IdentityProviderLabel: String, CaseIterable, Sendable {
    case oidc
    case externalJWT = "external_jwt"
}

extension PortalMetrics {
    enum SignInMethod: String, CaseIterable {
        case password, oidc
    }

    enum ProviderDocument: String, CaseIterable {
        case discovery, keys, token
    }

    /// Why the guard refused a company session JWT (a closed set).
    enum ExternalJWTRefusal: String, CaseIterable {
        case malformed, algorithm, signature, issuer, audience, expired
        case unknownKey = "unknown_key"
        case keysUnavailable = "keys_unavailable"
        case authorizedParty = "authorized_party"
        case notYetValid = "not_yet_valid"
        case noOrganizationClaim = "no_org_claim"
        case unknownSubject = "unknown_subject"
        case unknownOrganization = "unknown_org"
        case notAMember = "not_a_member"
    }

    func identitySeriesAtZero() {
        for method in SignInMethod.allCases {
            signIn(method, succeeded: true, count: 0)
            signIn(method, succeeded: false, count: 0)
        }
        for reason in ExternalJWTRefusal.allCases { externalJWTRefused(reason, count: 0) }
    }

    func signIn(_ method: SignInMethod, succeeded: Bool, count: Int = 1) {
        Counter(
            label: "portal_signins_total",
            dimensions: [("method", method.rawValue), ("outcome", succeeded ? "succeeded" : "failed")],
            factory: factory
        ).increment(by: count)
    }

    func externalJWTRefused(_ reason: ExternalJWTRefusal, count: Int = 1) {
        increment("portal_external_jwt_refusals_total", ("reason", reason.rawValue), by: count)
    }

    /// Whether the last contact with a provider's document worked: `portal_identity_provider_up`
    /// (1 or 0) and a count of failed contacts.
    func identityProviderReached(_ provider: IdentityProviderLabel, document: ProviderDocument, ok: Bool) {
        let labels = [("provider", provider.rawValue), ("document", document.rawValue)]
        Gauge(label: "portal_identity_provider_up", dimensions: labels, factory: factory).record(ok ? 1 : 0)
        if !ok {
            Counter(label: "portal_identity_provider_failures_total", dimensions: labels, factory: factory).increment()
        }
    }
}
