import Fluent
import Foundation
import PortalDatabase
import SQLKit

/// The guard's query for a verified session JWT: the web session must still exist (signing
/// out kills its JWTs at once) and the user must still be a member of the JWT's org.
enum SessionLookup {
    enum Failure: String, Error {
        case signedOut = "signed_out", notAMember = "not_a_member"

        var description: String {
            switch self {
            case .signedOut: "The web session behind this JWT has ended."
            case .notAMember: "The JWT's user is not a member of its organization."
            }
        }
    }

    /// The session by its id (primary key) for the JWT's user, the JWT's organization, and the
    /// *current* membership and role in it (left joins: none means no longer a member).
    struct Statement: GuardStatement {
        static let text = """
            SELECT \(Principal.columns) \
            FROM web_sessions s \
            JOIN users u ON u.id = s.user_id \
            JOIN organizations o ON o.id = ?1 \
            LEFT JOIN memberships m ON m.user_id = s.user_id AND m.organization_id = o.id \
            LEFT JOIN roles r ON r.id = m.role_id \
            WHERE s.id = ?2 AND s.user_id = ?3 AND s.expires_at > ?4
            """
        static let sql = StatementText.postgres(text)
        static let onSQLite = SQLiteReader.Statement(StatementText.sqlite(text))

        let jwt: SessionJWT.Verified
        let now: Date
        var values: [StatementValue] {
            [.uuid(jwt.organizationID), .uuid(jwt.sessionID), .uuid(jwt.userID), .date(now)]
        }
    }

    static func principal(
        for jwt: SessionJWT.Verified,
        at now: Date,
        on db: any Database,
        hotPath: HotPath
    ) async throws -> Principal {
        let row = try await Statement(jwt: jwt, now: now).firstRow(on: db, hotPath: hotPath)
        guard let row else { throw Failure.signedOut }
        guard let principal = try Principal(row: row, credential: .session(id: jwt.sessionID, expiresAt: jwt.expiresAt))
        else { throw Failure.notAMember }
        return principal
    }
}
