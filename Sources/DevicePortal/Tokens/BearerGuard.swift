import Vapor

/// The guard of every protected route: `Authorization: Bearer <credential>` → a `Principal`.
/// Errors follow RFC 6750 §3.1.
struct BearerGuard: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        guard let header = request.headers.first(name: .authorization) else {
            throw CredentialCheck.refusal(.missing, JSONError.missingCredential, request)
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw CredentialCheck.refusal(
                .malformed, .invalidToken("The Authorization header must be: Bearer <credential>."), request)
        }
        let credential = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        request.setPrincipal(try await CredentialCheck.principal(for: credential, request: request, asGuard: true))
        return try await next.respond(to: request)
    }
}

/// Tells an API token from a session JWT and finds who it acts as right now; anything else
/// is `invalid_token`. Shared by the guard, which records the token's use and counts and logs
/// its refusals, and by introspection, which only looks.
enum CredentialCheck {
    static func principal(for credential: String, request: Request, asGuard: Bool) async throws -> Principal {
        let now = Date()
        do {
            if OpaqueSecret.isAPITokenShaped(credential) {
                return try await APITokenLookup.principal(
                    token: credential, at: now, recordUse: asGuard, ip: asGuard ? request.clientIP : nil,
                    on: request.db, reader: request.application.sqliteReader)
            }
            let jwt = try await SessionJWT.verify(credential, app: request.application, on: request.db, now: now)
            return try await SessionLookup.principal(
                for: jwt, at: now, on: request.db, reader: request.application.sqliteReader)
        } catch let failure as APITokenLookup.Failure {
            throw refusal(failure.guardFailure, .invalidToken(failure.description), request, counted: asGuard)
        } catch let failure as SessionJWT.Failure {
            throw refusal(failure.guardFailure, .invalidToken(failure.description), request, counted: asGuard)
        } catch let failure as SessionLookup.Failure {
            throw refusal(failure.guardFailure, .invalidToken(failure.description), request, counted: asGuard)
        }
    }

    static func refusal(
        _ reason: PortalMetrics.GuardFailure, _ error: JSONError, _ request: Request, counted: Bool = true
    ) -> JSONError {
        guard counted else { return error }
        request.metrics.guardFailure(reason)
        var metadata: Logger.Metadata = ["reason": .string(reason.rawValue)]
        if let ip = request.clientIP { metadata["ip"] = .string(ip) }
        request.logger.info("guard refused a credential", metadata: metadata)
        return error
    }
}

extension APITokenLookup.Failure {
    var guardFailure: PortalMetrics.GuardFailure {
        switch self {
        case .unknown: .unknown
        case .revoked: .revoked
        case .expired: .expired
        case .notAMember: .notAMember
        }
    }
}

extension SessionJWT.Failure {
    var guardFailure: PortalMetrics.GuardFailure {
        switch self {
        case .malformed, .algorithm, .signature, .issuer, .notYetValid: .malformed
        case .unknownKey: .unknown
        case .expired: .expired
        }
    }
}

extension SessionLookup.Failure {
    var guardFailure: PortalMetrics.GuardFailure {
        switch self {
        case .signedOut: .revoked
        case .notAMember: .notAMember
        }
    }
}
