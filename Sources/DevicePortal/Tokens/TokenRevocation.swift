import Fluent
import Foundation
import SQLKit

/// Revokes API tokens in bulk; revoked tokens stay revoked, whatever happens to the membership later.
enum TokenRevocation {
    /// Revokes the user's live tokens, in one organization or in all; returns how many.
    @discardableResult
    static func revokeAll(
        userID: UUID, organizationID: UUID?, reason: APIToken.RevocationReason, on db: any Database
    ) async throws -> Int {
        var update = db.sql.update(APIToken.schema)
            .set("revoked_at", to: Date())
            .set("revoked_reason", to: reason.rawValue)
            .where("user_id", .equal, userID)
            .where("revoked_at", .is, SQLLiteral.null)
        if let organizationID { update = update.where("organization_id", .equal, organizationID) }
        return try await update.returning("id").all().count
    }
}
