import Fluent
import SQLKit
import Vapor

/// The guard of `/scim/v2/`: `Authorization: Bearer <directory token>` → the organization it
/// provisions. Not the API's guard: an API token or a session JWT is refused here, and a
/// directory token is refused there. Refusals are 401 in SCIM's error shape, with
/// `WWW-Authenticate` (RFC 6750 §3.1).
struct SCIMGuard: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let secret: String
        switch BearerCredential(request.headers) {
        case .missing: throw SCIMError.missingToken
        case .notBearer: throw SCIMError.invalidToken("The Authorization header must be: Bearer <directory token>.")
        case .credential(let credential): secret = credential
        }
        guard DirectoryToken.isShaped(secret) else {
            throw SCIMError.invalidToken("This is not a directory token; make one in the organization's settings.")
        }
        guard
            let token = try await DirectoryToken.query(on: request.db)
                .filter(\.$tokenHash == OpaqueSecret.hash(secret))
                .first(),
            token.revokedAt == nil
        else {
            request.logger.info("SCIM refused a directory token", metadata: ["ip": .string(request.clientIP ?? "")])
            throw SCIMError.invalidToken("The directory token is unknown or revoked.")
        }
        let now = request.now
        // Written at most once a minute: the settings page shows when the directory last came by.
        if token.lastUsedAt.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            try await request.db.sql.update(DirectoryToken.schema)
                .set("last_used_at", to: now)
                .where("id", .equal, try token.requireID())
                .where { $0.where("last_used_at", .is, SQLLiteral.null).orWhere("last_used_at", .lessThan, now - 60) }
                .run()
        }
        request.directoryValue = Directory(
            organizationID: token.$organization.id,
            actor: .directory(from: request),
            metrics: request.metrics
        )
        return try await next.respond(to: request)
    }
}

/// The organization a SCIM request provisions, and who it is in the audit log ("directory").
struct Directory: Sendable {
    let organizationID: UUID
    let actor: AuditActor
    let metrics: PortalMetrics?
}

extension Request {
    private struct DirectoryKey: StorageKey {
        typealias Value = Directory
    }

    /// Set by `SCIMGuard`.
    var directory: Directory {
        get throws {
            guard let directory = storage[DirectoryKey.self] else { throw SCIMError.missingToken }
            return directory
        }
    }

    fileprivate(set) var directoryValue: Directory? {
        get { storage[DirectoryKey.self] }
        set { storage[DirectoryKey.self] = newValue }
    }
}
