import PortalDatabase
import Vapor

/// The guard of every protected route: `Authorization: Bearer <credential>` → a `Principal`.
/// Errors follow RFC 6750 §3.1.
///
/// Not an `AsyncMiddleware`, which would start a task for every request: an API token that
/// `CredentialCheck.principalAtOnce` can read without waiting goes straight on to the route.
struct BearerGuard: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let credential: String
        do {
            credential = try Self.credential(request)
            if let principal = try CredentialCheck.principalAtOnce(for: credential, request: request) {
                request.setPrincipal(principal)
                return next.respond(to: request)
            }
        } catch {
            return request.eventLoop.makeFailedFuture(error)
        }
        return CredentialCheck.principal(for: credential, request: request).flatMap { principal in
            request.setPrincipal(principal)
            return next.respond(to: request)
        }
    }

    private static func credential(_ request: Request) throws -> String {
        switch BearerCredential(request.headers) {
        case .missing: throw CredentialCheck.refusal(.missing, JSONError.missingCredential, request)
        case .notBearer:
            throw CredentialCheck.refusal(
                .malformed,
                .invalidToken("The Authorization header must be: Bearer <credential>."),
                request
            )
        case .credential(let credential): return credential
        }
    }
}

/// What `Authorization` holds (RFC 6750 §2.1; the scheme's name is case-insensitive).
enum BearerCredential {
    case missing
    case notBearer
    case credential(String)

    init(_ headers: HTTPHeaders) {
        guard let header = headers.first(name: .authorization) else {
            self = .missing
            return
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            self = .notBearer
            return
        }
        self = .credential(header.dropFirst(7).trimmingCharacters(in: .whitespaces))
    }
}

/// Tells an API token from a session JWT (the portal's own, or the company's by its `iss`) and
/// finds who it acts as right now; anything else is `invalid_token`. Shared by the guard, which records the token's use and counts and logs
/// its refusals, and by introspection, which only looks.
enum CredentialCheck {
    static func principal(for credential: String, request: Request, asGuard: Bool) async throws -> Principal {
        let now = request.now
        let hotPath = request.application.hotPath
        do {
            if OpaqueSecret.isAPITokenShaped(credential) {
                return try await APITokenLookup.principal(
                    token: credential,
                    at: now,
                    recordUse: asGuard,
                    ip: asGuard ? request.clientIP : nil,
                    on: request.db,
                    hotPath: hotPath
                )
            }
            if let issuer = request.application.externalJWTIssuer,
                ProviderJWT.unverifiedIssuer(of: credential) == issuer.settings.issuer
            {
                return try await ExternalJWT.principal(for: credential, issuer: issuer, request: request)
            }
            let jwt = try await SessionJWT.verify(credential, app: request.application, on: request.db, now: now)
            return try await SessionLookup.principal(for: jwt, at: now, on: request.db, hotPath: hotPath)
        } catch {
            throw refused(error, request, counted: asGuard)
        }
    }

    /// The guard's principal: an API token read on the event loop where the database allows it
    /// (`APITokenLookup.principalOnEventLoop`), otherwise, or when its use is due, in one task.
    static func principal(for credential: String, request: Request) -> EventLoopFuture<Principal> {
        let inTask: @Sendable () -> EventLoopFuture<Principal> = {
            request.eventLoop.makeFutureWithTask {
                try await principal(for: credential, request: request, asGuard: true)
            }
        }
        guard OpaqueSecret.isAPITokenShaped(credential),
            let read = APITokenLookup.principalOnEventLoop(
                token: credential,
                at: request.now,
                on: request.db,
                hotPath: request.application.hotPath
            )
        else { return inTask() }
        return read.flatMapErrorThrowing { throw refused($0, request, counted: true) }
            .flatMap { $0.map(request.eventLoop.makeSucceededFuture) ?? inTask() }
    }

    /// The guard's principal for an API token read on the SQLite reader, when nothing needs
    /// waiting for; `nil` sends the request to `principal(…)`.
    static func principalAtOnce(for credential: String, request: Request) throws -> Principal? {
        guard OpaqueSecret.isAPITokenShaped(credential), let reader = request.application.sqliteReader else {
            return nil
        }
        do {
            return try APITokenLookup.principalAtOnce(token: credential, at: request.now, reader: reader)
        } catch {
            throw refused(error, request, counted: true)
        }
    }

    /// A look-up's failure as the guard's 401, counted and logged when `counted`.
    private static func refused(_ error: any Error, _ request: Request, counted: Bool) -> any Error {
        let reason: PortalMetrics.GuardFailure
        let description: String
        switch error {
        case let failure as APITokenLookup.Failure: (reason, description) = (failure.guardFailure, failure.description)
        case let failure as SessionJWT.Failure: (reason, description) = (failure.guardFailure, failure.description)
        case let failure as SessionLookup.Failure: (reason, description) = (failure.guardFailure, failure.description)
        case let failure as ExternalJWT.Failure:
            if counted { request.metrics.externalJWTRefused(failure.reason) }
            (reason, description) = (failure.guardFailure, failure.description)
        default: return error
        }
        return refusal(reason, .invalidToken(description), request, counted: counted)
    }

    static func refusal(
        _ reason: PortalMetrics.GuardFailure,
        _ error: JSONError,
        _ request: Request,
        counted: Bool = true
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
