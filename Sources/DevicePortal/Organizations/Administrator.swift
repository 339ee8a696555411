import Fluent
import Vapor

/// Someone acting on an organization, with what their current role lets them do there:
/// a member through the API or a page, or the command line, which acts with owner rights.
struct Administrator: Sendable {
    /// `nil` for the command line.
    let userID: UUID?
    let organizationID: UUID
    let permissions: Set<Permission>
    let isOwner: Bool
    let audit: AuditActor
    /// Where what they do is counted; the command line runs in a process nobody scrapes.
    var metrics: PortalMetrics? = nil

    static func commandLine(in organization: Organization) throws -> Administrator {
        Administrator(
            userID: nil,
            organizationID: try organization.requireID(),
            permissions: Set(Permission.allCases),
            isOwner: true,
            audit: .commandLine
        )
    }

    /// The caller of the JSON API; `{slug}` must name the credential's own organization.
    static func api(_ req: Request, slug: String) throws -> Administrator {
        let principal = try req.principal
        guard principal.organization.slug == slug else {
            throw AdminError.forbidden("This credential acts in \(principal.organization.slug), not in \(slug).")
        }
        return Administrator(
            userID: principal.user.id,
            organizationID: principal.organization.id,
            permissions: principal.permissions,
            isOwner: principal.roleName == BuiltInRole.owner.rawValue,
            audit: .user(principal.user.id, email: principal.user.email, from: req),
            metrics: req.metrics
        )
    }

    /// The signed-in person on the pages of the organization `{slug}`, if they are a member of it.
    static func web(_ req: Request) async throws -> (Administrator, Organization) {
        let signedIn = try req.requireSignedIn()
        let slug = req.parameters.get("slug") ?? ""
        guard let organization = try await Organization.find(slug: slug, on: req.db),
            let membership = try await Membership.find(
                userID: signedIn.userID,
                organizationID: try organization.requireID(),
                on: req.db
            )
        else { throw AdminError.notFound("You are not a member of an organization \(slug).") }
        let administrator = Administrator(
            userID: signedIn.userID,
            organizationID: try organization.requireID(),
            permissions: membership.role.permissions,
            isOwner: membership.role.name == BuiltInRole.owner.rawValue,
            audit: .user(signedIn.userID, email: signedIn.email, from: req),
            metrics: req.metrics
        )
        return (administrator, organization)
    }

    /// The administrator's rights as they are now, read inside the transaction that acts
    /// (after `MemberAdministration.lockOrganization`): a role taken away a moment ago counts.
    func reloaded(on db: any Database) async throws -> Administrator {
        guard let userID else { return self }
        guard let membership = try await Membership.find(userID: userID, organizationID: organizationID, on: db) else {
            throw AdminError.forbidden("You are no longer a member of this organization.")
        }
        return Administrator(
            userID: userID,
            organizationID: organizationID,
            permissions: membership.role.permissions,
            isOwner: membership.role.name == BuiltInRole.owner.rawValue,
            audit: audit,
            metrics: metrics
        )
    }

    func require(_ permission: Permission) throws {
        guard permissions.contains(permission) else { throw AdminError.lacking(permission) }
    }

    /// "An admin" of the reference (who may change the logo): a role holding every permission,
    /// which the built-in owner and admin roles do. The reference names no permission for how
    /// the org looks; holding them all is the mark of an admin, and a custom role that holds
    /// them all can already make anyone an admin, so it gains nothing here. A narrower role,
    /// even one managing members, does not change what every member sees.
    var isAdmin: Bool { isOwner || permissions.isSuperset(of: Permission.allCases) }

    func requireAdmin(_ action: String) throws {
        guard isAdmin else { throw AdminError.forbidden("Only an owner or an admin can \(action).") }
    }

    func requireOwner(_ action: String) throws {
        guard isOwner else { throw AdminError.forbidden("Only an owner can \(action).") }
    }

    /// No escalation: nobody hands out a permission they do not hold themselves.
    func requireHolding(_ granted: Set<Permission>) throws {
        let lacking = granted.subtracting(permissions)
        guard lacking.isEmpty else {
            throw AdminError.forbidden(
                "You cannot grant permissions you do not hold: \(Permission.encode(lacking))."
            )
        }
    }
}

extension Request {
    /// The `{userID}` of a member route; a malformed id is as unknown as a made-up one.
    func memberID() throws -> UUID {
        guard let id = parameters.get("userID").flatMap(UUID.init(uuidString:)) else {
            throw AdminError.notFound("That user is not a member of this organization.")
        }
        return id
    }
}
