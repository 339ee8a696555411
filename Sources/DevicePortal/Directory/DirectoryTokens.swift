import Fluent
import Vapor

/// Making, listing and revoking an organization's directory tokens: owners only (the command
/// line acts as one), each change audited in its own transaction.
enum DirectoryTokens {
    static func create(by admin: Administrator, on db: any Database) async throws -> DirectoryTokenDTO {
        try admin.requireOwner("make a directory token")
        let secret = DirectoryToken.newSecret()
        let token = DirectoryToken(
            tokenHash: OpaqueSecret.hash(secret),
            organizationID: admin.organizationID,
            createdBy: admin.audit.label
        )
        try await db.transaction { tx in
            try await token.create(on: tx)
            try await AuditEvent.record(
                .directoryTokenCreated,
                by: admin.audit,
                in: admin.organizationID,
                details: ["token_id": try token.requireID().uuidString],
                on: tx
            )
        }
        return DirectoryTokenDTO(token, secret: secret)
    }

    static func list(by admin: Administrator, on db: any Database) async throws -> [DirectoryTokenDTO] {
        try admin.requireOwner("see the directory tokens")
        return try await DirectoryToken.query(on: db)
            .filter(\.$organization.$id == admin.organizationID)
            .sort(\.$createdAt, .descending)
            .all()
            .map { DirectoryTokenDTO($0) }
    }

    /// Revokes one of the organization's tokens; another organization's id is as unknown as a made-up one.
    @discardableResult
    static func revoke(_ id: UUID, by admin: Administrator, on db: any Database) async throws -> DirectoryTokenDTO {
        try admin.requireOwner("revoke a directory token")
        return try await db.transaction { tx in
            guard
                let token = try await DirectoryToken.query(on: tx)
                    .filter(\.$id == id)
                    .filter(\.$organization.$id == admin.organizationID)
                    .first()
            else { throw AdminError.notFound("This organization has no directory token with that id.") }
            guard token.revokedAt == nil else { return DirectoryTokenDTO(token) }
            token.revokedAt = Date()
            try await token.update(on: tx)
            try await AuditEvent.record(
                .directoryTokenRevoked,
                by: admin.audit,
                in: admin.organizationID,
                details: ["token_id": id.uuidString],
                on: tx
            )
            return DirectoryTokenDTO(token)
        }
    }
}
