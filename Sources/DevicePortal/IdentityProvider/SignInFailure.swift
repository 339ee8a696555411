import Vapor

/// Why a sign-in through the provider did not sign anyone in: the page a person sees, and
/// the reason (a closed set) that the audit log and the logs record.
struct SignInFailure: Error {
    let reason: String
    let page: PageError
    var subject: AuditSubject?

    private init(_ reason: String, _ status: HTTPStatus, _ message: String, headers: HTTPHeaders = [:]) {
        self.reason = reason
        self.page = PageError(
            status: status,
            title: "You are not signed in",
            message: message + " You can go back to the sign-in page and try again.",
            headers: headers
        )
    }

    static let badState = SignInFailure(
        "bad_state",
        .badRequest,
        "This sign-in was not started in this browser, was already used, or took longer than 10 minutes."
    )
    static let denied = SignInFailure("denied", .forbidden, "Your company account did not allow the sign-in.")
    static let providerError = SignInFailure(
        "provider_error",
        .badRequest,
        "Your company's sign-in service could not sign you in."
    )
    static let badCallback = SignInFailure(
        "bad_callback",
        .badRequest,
        "The answer from your company's sign-in service was incomplete."
    )
    static let providerUnreachable = SignInFailure(
        "provider_unreachable",
        .serviceUnavailable,
        "Your company's sign-in service cannot be reached right now.",
        headers: ["Retry-After": "30"]
    )
    static let codeRefused = SignInFailure(
        "code_refused",
        .badRequest,
        "Your company's sign-in service refused to complete the sign-in."
    )

    static func badIDToken(_ failure: ProviderJWT.Failure) -> SignInFailure {
        if failure == .keysUnavailable {
            return SignInFailure(
                "keys_unavailable",
                .serviceUnavailable,
                "Your company's sign-in service cannot be reached right now.",
                headers: ["Retry-After": "30"]
            )
        }
        return SignInFailure(
            "bad_id_token_\(failure.rawValue)",
            .badRequest,
            "The sign-in could not be verified (\(failure.description))"
        )
    }

    static func unverifiedEmail(_ email: String?) -> SignInFailure {
        var failure = SignInFailure(
            "unverified_email",
            .forbidden,
            "Your company account's email address is not verified, so no portal account can be matched to it. Ask your administrator."
        )
        failure.subject = email.map { AuditSubject(userID: nil, label: String($0.clipped(to: 254))) }
        return failure
    }

    static func noAccount(_ email: String) -> SignInFailure {
        var failure = SignInFailure(
            "no_account",
            .forbidden,
            "There is no portal account for \(email.clipped(to: 254)), and accounts are not created automatically here. Ask your administrator to add you."
        )
        failure.subject = AuditSubject(userID: nil, label: String(email.clipped(to: 254)))
        return failure
    }

    static func linkedElsewhere(_ user: User) -> SignInFailure {
        var failure = SignInFailure(
            "linked_to_another_identity",
            .forbidden,
            "The portal account for this email is already linked to another person at your company's sign-in service. Ask your administrator."
        )
        failure.subject = AuditSubject(userID: user.id, label: user.email)
        return failure
    }
}
