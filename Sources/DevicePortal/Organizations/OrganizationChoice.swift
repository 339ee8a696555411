import Fluent
import Foundation
import SQLKit

/// One of a user's organizations, with the user's role there.
struct OrganizationChoice: Encodable, Sendable {
    let id: UUID
    let slug: String
    let name: String
    let role: String
    let deviceSignIn: Bool
    /// The SHA-256 of the org's logo, if it has one: the picker shows it, and puts it in the
    /// image's URL so a new logo is fetched at once.
    let logo: String?

    /// The user's organizations, in the order they joined them: one query, which reads
    /// whether each has a logo but never the logo itself (every page's header calls this).
    static func all(of userID: UUID, on db: any Database) async throws -> [OrganizationChoice] {
        let rows = try await db.sql.raw(
            """
            SELECT o.id, o.slug, o.name, o.device_signin, r.name AS role, l.sha256 AS logo
            FROM memberships m
            JOIN organizations o ON o.id = m.organization_id
            JOIN roles r ON r.id = m.role_id
            LEFT JOIN organization_logos l ON l.organization_id = o.id
            WHERE m.user_id = \(bind: userID)
            ORDER BY m.created_at, o.slug
            """
        ).all()
        return try rows.map { row in
            OrganizationChoice(
                id: try row.decode(column: "id", as: UUID.self),
                slug: try row.decode(column: "slug", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                role: try row.decode(column: "role", as: String.self),
                deviceSignIn: try row.decode(column: "device_signin", as: Bool.self),
                logo: try row.decode(column: "logo", as: String?.self)
            )
        }
    }

    /// The user's organizations that allow device sign-in, by name: the approval page's picker.
    static func forDeviceSignIn(userID: UUID, on db: any Database) async throws -> [OrganizationChoice] {
        try await all(of: userID, on: db).filter(\.deviceSignIn).sorted { $0.name < $1.name }
    }

    /// The web session's organization: the one picked in the header while the user is still a
    /// member of it, else the first they joined.
    static func active(for signedIn: SignedInUser, among choices: [OrganizationChoice]) -> OrganizationChoice? {
        choices.first { $0.id == signedIn.activeOrganizationID } ?? choices.first
    }
}
