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
        guard OpaqueSecret.isAPITokenShaped(credential) else {
            throw JSONError.invalidToken("The credential is not a valid API token or session JWT.")
        }
        do {
            request.setPrincipal(
                try await APITokenLookup.principal(token: credential, at: Date(), ip: request.clientIP, on: request.db))
        } catch let failure as APITokenLookup.Failure {
            request.logger.info("guard refused a credential", metadata: ["reason": .string(failure.rawValue)])
            throw JSONError.invalidToken(failure.description)
        }
        return try await next.respond(to: request)
    }
}
