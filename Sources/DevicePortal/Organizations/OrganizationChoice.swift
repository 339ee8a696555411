import Fluent
import Foundation

/// One of a user's organizations, with the user's role there.
struct OrganizationChoice: Encodable, Sendable {
    let id: UUID
    let slug: String
    let name: String
    let role: String
    let deviceSignIn: Bool

    /// The user's organizations, in the order they joined them.
    static func all(of userID: UUID, on db: any Database) async throws -> [OrganizationChoice] {
        let memberships = try await Membership.query(on: db)
            .join(Organization.self, on: \Membership.$organization.$id == \Organization.$id)
            .join(Role.self, on: \Membership.$role.$id == \Role.$id)
            .filter(\.$user.$id == userID)
            .sort(\.$createdAt)
            .all()
        return try memberships.map { membership in
            let organization = try membership.joined(Organization.self)
            return OrganizationChoice(
                id: try organization.requireID(), slug: organization.slug, name: organization.name,
                role: try membership.joined(Role.self).name, deviceSignIn: organization.deviceSignIn)
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
