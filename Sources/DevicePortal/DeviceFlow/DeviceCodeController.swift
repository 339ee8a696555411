import Fluent
import Vapor

/// `POST /auth/device/code`: a desktop app starts the flow (RFC 8628 §3.1, §3.2).
enum DeviceCodeController {
    static let maxDeviceNameLength = 100

    struct Form {
        let clientID: String?
        let scope: String?
        let deviceName: String?

        init(_ form: OAuthForm) throws {
            clientID = try form["client_id"]
            scope = try form["scope"]
            deviceName = try form["device_name"]
        }
    }

    struct CodeResponse: Content {
        let deviceCode: String
        let userCode: String
        let verificationURI: String
        let verificationURIComplete: String
        let expiresIn: Int
        let interval: Int

        enum CodingKeys: String, CodingKey {
            case deviceCode = "device_code"
            case userCode = "user_code"
            case verificationURI = "verification_uri"
            case verificationURIComplete = "verification_uri_complete"
            case expiresIn = "expires_in"
            case interval
        }
    }

    @Sendable static func issue(req: Request) async throws -> CodeResponse {
        let form = try Form(req.oauthForm())
        let clientID = try requiredParameter(form.clientID, "client_id")
        // Scopes are accepted and ignored: tokens carry none.
        if let scope = form.scope, !scope.fits(1_000) {
            throw JSONError.invalidRequest("Parameter scope is longer than 1000 characters.")
        }
        let deviceName = try Self.deviceName(form.deviceName)
        let client = try await OAuthClient.requirePublic(clientID, on: req.db)
        let config = req.application.config
        try await limitPerIP(req, perMinute: config.deviceCodesPerIPPerMinute)
        let deviceCode = OpaqueSecret.base64URL()
        let actor = AuditActor.client(clientID, from: req)
        let userCode = try await insertWithUniqueUserCode(on: req.db) { userCode, tx in
            try await DeviceAuthorization(
                deviceCodeHash: OpaqueSecret.hash(deviceCode),
                userCode: userCode,
                clientID: try client.requireID(),
                expiresAt: req.now.addingTimeInterval(TimeInterval(config.deviceCodeTTL)),
                pollInterval: config.devicePollInterval,
                deviceName: deviceName,
                requesterIP: req.clientIP,
                requesterUserAgent: req.userAgent
            ).create(on: tx)
            try await AuditEvent.record(
                .deviceCodeIssued,
                by: actor,
                details: ["user_code": UserCode.display(userCode), "device_name": deviceName ?? ""],
                on: tx
            )
        }
        let shown = UserCode.display(userCode)
        req.metrics.deviceFlow(.issued)
        let verificationURI = req.application.publicBaseURL + "/auth/device"
        return CodeResponse(
            deviceCode: deviceCode,
            userCode: shown,
            verificationURI: verificationURI,
            verificationURIComplete: verificationURI + "?user_code=" + shown,
            expiresIn: config.deviceCodeTTL,
            interval: config.devicePollInterval
        )
    }

    /// 429 with `Retry-After` once this IP has asked for too many codes (the attempts count).
    private static func limitPerIP(_ req: Request, perMinute: Int) async throws {
        guard perMinute > 0 else { return }
        let attempt = try await RateLimiter(db: req.db).reserve(
            at: req.now,
            [
                .init(
                    bucket: "device-code:ip:\(req.rateLimitIP)",
                    rules: RateLimiter.deviceCodeRules(perMinute: perMinute)
                )
            ]
        )
        guard let retryAfter = attempt.retryAfter else { return }
        req.metrics.rateLimitRefusal(.deviceCode)
        throw JSONError(
            status: .tooManyRequests,
            error: "too_many_requests",
            description:
                "Too many device codes from this address. Try again in \(PageError.wait(seconds: retryAfter)).",
            headers: ["Retry-After": String(retryAfter)]
        )
    }

    /// Trimmed, at most 100 characters, no control characters; empty means none.
    static func deviceName(_ raw: String?) throws -> String? {
        guard let name = raw?.trimmingCharacters(in: .whitespaces), !name.isEmpty else { return nil }
        guard name.fits(maxDeviceNameLength) else {
            throw JSONError.invalidRequest("device_name is longer than \(maxDeviceNameLength) characters.")
        }
        guard !name.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) }) else {
            throw JSONError.invalidRequest("device_name contains control characters.")
        }
        return name
    }

    /// User codes are short, so a fresh one can collide with a live one; the unique index
    /// catches that and another code is drawn, in a new transaction (a failed statement ends
    /// a PostgreSQL transaction).
    private static func insertWithUniqueUserCode(
        on db: any Database,
        _ insert: @escaping @Sendable (String, any Database) async throws -> Void
    ) async throws -> String {
        for attempt in 1...5 {
            let userCode = UserCode.generate()
            do {
                try await db.transaction { tx in try await insert(userCode, tx) }
                return userCode
            } catch let error as any DatabaseError where error.isConstraintFailure && attempt < 5 {
                continue
            }
        }
        throw Abort(.serviceUnavailable, reason: "Could not allocate a user code.")
    }
}
