import Fluent
import Foundation

/// An organization a user may approve a device for, with the user's role there.
struct OrganizationChoice: Encodable {
    let id: UUID
    let slug: String
    let name: String
    let role: String

    /// The user's organizations that allow device sign-in, by name.
    static func forDeviceSignIn(userID: UUID, on db: any Database) async throws -> [OrganizationChoice] {
        let memberships = try await Membership.query(on: db)
            .join(Organization.self, on: \Membership.$organization.$id == \Organization.$id)
            .join(Role.self, on: \Membership.$role.$id == \Role.$id)
            .filter(\.$user.$id == userID)
            .filter(Organization.self, \.$deviceSignIn == true)
            .sort(Organization.self, \.$name)
            .all()
        return try memberships.map { membership in
            let organization = try membership.joined(Organization.self)
            return OrganizationChoice(
                id: try organization.requireID(), slug: organization.slug, name: organization.name,
                role: try membership.joined(Role.self).name)
        }
    }
}
