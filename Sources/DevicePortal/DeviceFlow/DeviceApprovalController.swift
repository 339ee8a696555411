import Fluent
import Vapor

/// The pages where a signed-in person enters a user code, sees which app and machine is
/// asking, and approves it for one of their organizations or denies it.
enum DeviceApprovalController {
    struct EnterPage: Encodable {
        let userCode: String
        let csrfToken: String
        let error: String?
    }

    struct ConfirmPage: Encodable {
        let userCode: String
        let clientName: String
        let deviceName: String?
        let requesterIP: String
        let approverIP: String
        let differentIP: Bool
        let userAgent: String?
        let requested: ShownDate
        /// Asked for long ago: a code someone forwarded rather than one the person just started.
        let isOld: Bool
        let organizations: [OrganizationChoice]
        /// Some organization of the user allows device sign-in; else the device can only be denied.
        let canApprove: Bool
        /// With one organization it is chosen in advance; with several the person picks.
        let onlyChoice: Bool
        let csrfToken: String
    }

    struct ResultPage: Encodable {
        let clientName: String
        let deviceName: String?
        let organizationName: String?
    }

    struct CodeForm: Content {
        let userCode: String?

        enum CodingKeys: String, CodingKey { case userCode = "user_code" }
    }

    struct DecisionForm: Content {
        let userCode: String?
        let org: String?
        let action: String?

        enum CodingKeys: String, CodingKey {
            case userCode = "user_code"
            case org, action
        }
    }

    /// Codes older than this get the stronger warning: a sign-in people start themselves is
    /// approved within a minute or two (RFC 8628 §5.4).
    static let oldCodeAge: TimeInterval = 180

    @Sendable static func enter(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        // Prefilled from the link the app showed, but never approved without a click.
        let prefill = req.query[String.self, at: "user_code"].flatMap(UserCode.normalize).map(UserCode.display)
        return try await req.renderPage(
            "device/enter",
            title: "Connect a device",
            EnterPage(userCode: prefill ?? "", csrfToken: signedIn.csrfToken, error: nil)
        )
    }

    @Sendable static func confirm(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        let form = try req.content.decode(CodeForm.self)
        let (pending, attempt) = try await findCounted(form.userCode, req: req)
        guard let pending else { return try await wrongCode(req, typed: form.userCode) }
        try await attempt.release()
        let authorization = pending.authorization
        let organizations = try await OrganizationChoice.forDeviceSignIn(userID: signedIn.userID, on: req.db)
        let approverIP = req.clientIP ?? "unknown"
        let requesterIP = authorization.requesterIP ?? "unknown"
        let requestedAt = authorization.createdAt ?? req.now
        return try await req.renderPage(
            "device/confirm",
            title: "Approve this device?",
            ConfirmPage(
                userCode: UserCode.display(authorization.userCode),
                clientName: pending.client.name,
                deviceName: authorization.deviceName,
                requesterIP: requesterIP,
                approverIP: approverIP,
                differentIP: requesterIP != approverIP,
                userAgent: authorization.requesterUserAgent,
                requested: ShownDate(requestedAt, now: req.now),
                isOld: req.now.timeIntervalSince(requestedAt) > Self.oldCodeAge,
                organizations: organizations,
                canApprove: !organizations.isEmpty,
                onlyChoice: organizations.count == 1,
                csrfToken: signedIn.csrfToken
            )
        )
    }

    @Sendable static func decide(req: Request) async throws -> Response {
        let signedIn = try req.requireSignedIn()
        let form = try req.content.decode(DecisionForm.self)
        guard form.action == "approve" || form.action == "deny" else {
            throw PageError.badRequest("Choose Approve or Deny.")
        }
        let (pending, attempt) = try await findCounted(form.userCode, req: req)
        guard let pending else { return try await wrongCode(req, typed: form.userCode) }
        try await attempt.release()
        let userCode = pending.authorization.userCode
        let result = ResultPage(
            clientName: pending.client.name,
            deviceName: pending.authorization.deviceName,
            organizationName: nil
        )
        let actor = AuditActor.user(signedIn.userID, email: signedIn.email, from: req)
        let details = [
            "client_id": pending.client.clientID, "device_name": pending.authorization.deviceName ?? "",
            "user_code": UserCode.display(userCode),
        ]
        if form.action == "deny" {
            try await req.db.transaction { tx in
                guard try await PendingDevice.deny(userCode: userCode, at: req.now, on: tx) else {
                    throw Self.alreadyDecided
                }
                try await AuditEvent.record(.deviceDenied, by: actor, details: details, on: tx)
                try await DeviceDecisions.announce(pending.authorization.deviceCodeHash, on: tx)
            }
            DeviceDecisions.committed(pending.authorization.deviceCodeHash, app: req.application)
            req.metrics.deviceFlow(.denied)
            return try await req.renderPage("device/denied", title: "Device denied", result)
        }
        let choices = try await OrganizationChoice.forDeviceSignIn(userID: signedIn.userID, on: req.db)
        guard let organization = choices.first(where: { $0.slug == form.org }) else {
            throw PageError.badRequest("Choose one of your organizations that allows device sign-in.")
        }
        try await req.db.transaction { tx in
            guard
                try await PendingDevice.approve(
                    userCode: userCode,
                    userID: signedIn.userID,
                    organizationID: organization.id,
                    at: req.now,
                    on: tx
                )
            else { throw Self.alreadyDecided }
            try await AuditEvent.record(.deviceApproved, by: actor, in: organization.id, details: details, on: tx)
            try await DeviceDecisions.announce(pending.authorization.deviceCodeHash, on: tx)
        }
        DeviceDecisions.committed(pending.authorization.deviceCodeHash, app: req.application)
        req.metrics.deviceFlow(.approved)
        return try await req.renderPage(
            "device/approved",
            title: "Device connected",
            ResultPage(
                clientName: result.clientName,
                deviceName: result.deviceName,
                organizationName: organization.name
            )
        )
    }

    static let alreadyDecided = PageError(
        status: .conflict,
        title: "Already decided",
        message: "This code was already approved or denied, so nothing more can be done with it."
    )

    static let expired = PageError(
        status: .gone,
        title: "Code expired",
        message: "This code has expired. Start the sign-in again in the app to get a new one."
    )

    /// Looks a typed code up, counting the attempt against the wrong-code limits of this
    /// user and this IP; the caller releases the attempt when the code was right.
    private static func findCounted(
        _ typed: String?,
        req: Request
    ) async throws
        -> (PendingDevice?, RateLimiter.Reservation)
    {
        let signedIn = try req.requireSignedIn()
        let attempt = try await RateLimiter(db: req.db).reserve(
            at: req.now,
            [
                .init(bucket: "user-code:user:\(signedIn.userID)", rules: RateLimiter.wrongUserCodeRules),
                .init(bucket: "user-code:ip:\(req.rateLimitIP)", rules: RateLimiter.wrongUserCodeRules),
            ]
        )
        if let retryAfter = attempt.retryAfter {
            req.metrics.rateLimitRefusal(.wrongUserCode)
            throw PageError.tooManyAttempts(retryAfter: retryAfter)
        }
        guard let code = typed.flatMap(UserCode.normalize) else { return (nil, attempt) }
        return (try await PendingDevice.find(userCode: code, at: req.now, on: req.db), attempt)
    }

    /// A code that exists but can no longer be decided gets its own answer (the attempt still
    /// counts); any other code is simply not valid.
    private static func wrongCode(_ req: Request, typed: String?) async throws -> Response {
        if let code = typed.flatMap(UserCode.normalize),
            let known = try await DeviceAuthorization.query(on: req.db).filter(\.$userCode == code).first()
        {
            throw known.expiresAt <= req.now && known.status != .consumed ? Self.expired : Self.alreadyDecided
        }
        let signedIn = try req.requireSignedIn()
        try await AuditEvent.record(
            .wrongUserCode,
            by: .user(signedIn.userID, email: signedIn.email, from: req),
            details: ["typed": (typed ?? "").clipped(to: 20)],
            on: req.db
        )
        return try await req.renderPage(
            "device/enter",
            title: "Connect a device",
            EnterPage(
                userCode: (typed ?? "").clipped(to: 20),
                csrfToken: try req.requireSignedIn().csrfToken,
                error: "That code is not valid. It may have expired or been used already; check it and try again."
            ),
            status: .badRequest
        )
    }
}
