import Fluent
import Vapor

/// `POST /auth/device/token`: the app's poll, and the one exchange of an approved code
/// for an API token (RFC 8628 §3.4, §3.5).
enum DeviceTokenController {
    static let grantType = "urn:ietf:params:oauth:grant-type:device_code"

    struct Form {
        let grantType: String?
        let deviceCode: String?
        let clientID: String?

        init(_ form: OAuthForm) throws {
            grantType = try form["grant_type"]
            deviceCode = try form["device_code"]
            clientID = try form["client_id"]
        }
    }

    struct TokenResponse: Content {
        let accessToken: String
        let tokenType = "Bearer"
        let expiresIn: Int
        let user: UserDTO
        let organization: OrganizationDTO

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case user, organization
        }
    }

    /// Decided in the documented order (docs/REFERENCE.md): grant type, parameters, client, code, expiry,
    /// polling speed, then the code's state. With `Prefer: wait=N` a pending code's poll is held
    /// until the code is decided, expires, or N seconds pass (`HeldPolls`).
    @Sendable static func exchange(req: Request) async throws -> Response {
        let form = try Form(req.oauthForm())
        let grantType = try requiredParameter(form.grantType, "grant_type")
        guard grantType == Self.grantType else {
            throw JSONError(
                status: .badRequest,
                error: "unsupported_grant_type",
                description: "Only the device code grant (\(Self.grantType)) is supported."
            )
        }
        let deviceCode = try requiredParameter(form.deviceCode, "device_code", maxLength: 100)
        let clientID = try requiredParameter(form.clientID, "client_id")
        let deviceCodeHash = OpaqueSecret.hash(deviceCode)
        let now = req.now
        // A poll that may be held takes its place before its statement runs, so that a decision
        // committed in between is not missed.
        let wait = PreferWait.seconds(in: req.headers["Prefer"])
        let ticket = wait.flatMap { _ in req.application.heldPolls.register(deviceCodeHash) }
        do {
            // One statement on the usual path; telling a bad client from a bad code costs a second
            // query only when the poll found nothing.
            guard
                let poll = try await DevicePoll.record(
                    deviceCodeHash: deviceCodeHash,
                    clientID: clientID,
                    at: now,
                    on: req.db,
                    hotPath: req.application.hotPath
                )
            else {
                _ = try await OAuthClient.requirePublic(clientID, on: req.db)
                throw JSONError.invalidGrant(
                    "The device code is unknown, belongs to another client, or was already used."
                )
            }
            if let ticket, let wait, poll.status == .pending, !poll.wasEarly, poll.expiresAt > now {
                return try await held(poll, ticket: ticket, wait: wait, req: req)
            }
            ticket.map(req.application.heldPolls.release)
            return try await answer(poll, at: now, req: req)
        } catch {
            ticket.map(req.application.heldPolls.release)
            throw error
        }
    }

    /// The answer to a poll, from the code's state as the poll found it.
    private static func answer(_ poll: DevicePoll, at now: Date, req: Request) async throws -> Response {
        if poll.expiresAt <= now {
            throw JSONError.deviceFlow("expired_token", "The device code has expired. Start again.")
        }
        if poll.wasEarly {
            throw JSONError.deviceFlow(
                "slow_down",
                "Polled too soon. Wait at least \(poll.pollInterval) seconds between polls."
            )
        }
        switch poll.status {
        case .pending:
            throw JSONError.deviceFlow("authorization_pending", "The user has not approved this device yet.")
        case .denied:
            throw JSONError.deviceFlow("access_denied", "The user denied this device.")
        case .approved, .consumed:
            guard
                let issued = try await redeem(
                    poll.authorizationID,
                    clientID: poll.clientID,
                    organizationID: poll.approvedOrganizationID,
                    serverTokenTTL: req.application.config.tokenTTL,
                    at: now,
                    app: req.application,
                    on: req.db
                )
            else {
                // Committed as denied: nothing brings this code back.
                throw JSONError.deviceFlow("access_denied", "The approval is no longer valid.")
            }
            req.metrics.deviceFlow(.exchanged)
            req.metrics.tokensIssued()
            return try await issued.encodeResponse(for: req)
        }
    }

    /// Holds a pending code's poll (no thread, no connection) until the code is decided, expires,
    /// `wait` seconds pass or the server shuts down, then answers it as a poll made at that moment:
    /// its time is the previous poll's for the next one (RFC 8628 §3.5's interval counts from it).
    private static func held(
        _ poll: DevicePoll,
        ticket: HeldPolls.Ticket,
        wait: Int,
        req: Request
    ) async throws
        -> Response
    {
        // Held just past the expiry, so that the answer then is expired_token.
        let limit = min(TimeInterval(wait), poll.expiresAt.timeIntervalSince(req.now) + 0.05)
        let started = ContinuousClock.now
        let woke = await req.application.heldPolls.wait(
            ticket,
            upTo: .milliseconds(Int64(limit * 1_000)),
            on: req.eventLoop
        )
        req.metrics.heldPoll(woke, waited: ContinuousClock.now - started)
        let now = req.now
        let applied = "wait=\(wait)"
        do {
            guard let answered = try await DevicePoll.answered(poll, at: now, on: req.db) else {
                throw JSONError.invalidGrant("The device code was already used.")
            }
            let response = try await answer(answered, at: now, req: req)
            response.headers.replaceOrAdd(name: "Preference-Applied", value: applied)
            return response
        } catch var error as JSONError {
            error.headers.replaceOrAdd(name: "Preference-Applied", value: applied)
            throw error
        }
    }

    /// Exactly one poll wins: the approved → consumed update names the state it leaves and
    /// shares a transaction with the token's insert. `nil` when the approval no longer holds (the
    /// approver left the organization, or its owners turned device sign-in off): the code is then
    /// denied for good, in a transaction that commits. The organization is locked first, as member
    /// removal locks it, so a removal and an exchange never interleave (and always lock in one order).
    /// The person is mailed a new-device notice in the same transaction (with `SMTP_URL`).
    static func redeem(
        _ authorizationID: UUID,
        clientID: UUID,
        organizationID: UUID?,
        serverTokenTTL: Int,
        at now: Date,
        app: Application,
        on db: any Database
    ) async throws -> TokenResponse? {
        try await db.transaction { tx in
            if let organizationID { try await MemberAdministration.lockOrganization(organizationID, on: tx) }
            guard
                let row = try await tx.sql.update(DeviceAuthorization.schema)
                    .set("status", to: DeviceAuthorization.Status.consumed.rawValue)
                    .where("id", .equal, authorizationID)
                    .where("status", .equal, DeviceAuthorization.Status.approved.rawValue)
                    .returning("approved_user_id", "device_name", "requester_ip")
                    .first()
            else {
                // Another poll won, or a revocation denied the code after this poll read it.
                let status = try await DeviceAuthorization.find(authorizationID, on: tx)?.status
                if status == .denied { return nil }
                throw JSONError.invalidGrant("The device code was already used.")
            }
            let userID = try row.decode(column: "approved_user_id", as: UUID?.self)
            guard let userID, let organizationID, let user = try await User.find(userID, on: tx),
                let organization = try await Organization.find(organizationID, on: tx), organization.deviceSignIn,
                try await Membership.find(userID: userID, organizationID: organizationID, on: tx) != nil
            else {
                try await tx.sql.update(DeviceAuthorization.schema)
                    .set("status", to: DeviceAuthorization.Status.denied.rawValue)
                    .where("id", .equal, authorizationID)
                    .run()
                return nil
            }
            let issued = try await TokenIssuer.issue(
                user: user,
                organization: organization,
                clientID: clientID,
                deviceAuthorizationID: authorizationID,
                deviceName: try row.decode(column: "device_name", as: String?.self),
                serverTokenTTL: serverTokenTTL,
                at: now,
                on: tx
            )
            try await AuditEvent.record(
                .tokenIssued,
                by: AuditActor(userID: userID, label: user.email, ip: nil, userAgent: nil),
                in: organizationID,
                about: AuditSubject(userID: userID, label: user.email),
                details: [
                    "token_id": try issued.record.requireID().uuidString, "device_name": issued.record.deviceName ?? "",
                ],
                on: tx
            )
            try await NewDeviceNotice.enqueue(
                to: user,
                clientID: clientID,
                deviceName: issued.record.deviceName,
                organization: organization,
                ip: try row.decode(column: "requester_ip", as: String?.self),
                at: now,
                app: app,
                on: tx
            )
            return TokenResponse(
                accessToken: issued.token,
                expiresIn: issued.lifetime,
                user: UserDTO(user),
                organization: OrganizationDTO(organization)
            )
        }
    }
}
