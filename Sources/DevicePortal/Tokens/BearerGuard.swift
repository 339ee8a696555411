import Vapor

/// The guard of every protected route: `Authorization: Bearer <credential>` → a `Principal`.
/// Errors follow RFC 6750 §3.1.
struct BearerGuard: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        guard let header = request.headers.first(name: .authorization) else { throw JSONError.missingCredential }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw JSONError.invalidToken("The Authorization header must be: Bearer <credential>.")
        }
        let credential = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        request.setPrincipal(try await CredentialCheck.principal(for: credential, request: request, recordUse: true))
        return try await next.respond(to: request)
    }
}

/// Tells an API token from a session JWT and finds who it acts as right now; anything else
/// is `invalid_token`. Shared by the guard and by introspection.
enum CredentialCheck {
    static func principal(for credential: String, request: Request, recordUse: Bool) async throws -> Principal {
        let now = Date()
        do {
            if OpaqueSecret.isAPITokenShaped(credential) {
                return try await APITokenLookup.principal(
                    token: credential, at: now, recordUse: recordUse, ip: recordUse ? request.clientIP : nil,
                    on: request.db)
            }
            let jwt = try await SessionJWT.verify(credential, app: request.application, on: request.db, now: now)
            return try await SessionLookup.principal(for: jwt, at: now, on: request.db)
        } catch let failure as APITokenLookup.Failure {
            throw refusal(failure.rawValue, failure.description, request)
        } catch let failure as SessionJWT.Failure {
            throw refusal(failure.rawValue, failure.description, request)
        } catch let failure as SessionLookup.Failure {
            throw refusal(failure.rawValue, failure.description, request)
        }
    }

    private static func refusal(_ reason: String, _ description: String, _ request: Request) -> JSONError {
        request.logger.info("guard refused a credential", metadata: ["reason": .string(reason)])
        return JSONError.invalidToken(description)
    }
}
