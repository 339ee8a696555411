import Vapor

/// A refusal by the organization rules. The API answers it as JSON, a page shows it, a
/// command prints it: the same status and words everywhere.
struct AdminError: AbortError, CustomStringConvertible {
    let status: HTTPResponseStatus
    let reason: String
    /// Set when the caller's role lacks this permission: the API answers `insufficient_scope` (RFC 6750 §3.1).
    var lackingPermission: Permission? = nil

    var description: String { reason }

    /// Not allowed for this caller (403).
    static func forbidden(_ reason: String) -> AdminError { AdminError(status: .forbidden, reason: reason) }
    /// The caller's role lacks a permission the action needs (403).
    static func lacking(_ permission: Permission) -> AdminError {
        AdminError(
            status: .forbidden,
            reason: "Your role here lacks the permission \(permission.rawValue).",
            lackingPermission: permission
        )
    }
    /// Would break a standing rule: the last owner, a role still held, a duplicate name (409).
    static func conflict(_ reason: String) -> AdminError { AdminError(status: .conflict, reason: reason) }
    /// A well-formed request whose content breaks a rule: an unknown role, a bad name (422).
    static func invalid(_ reason: String) -> AdminError { AdminError(status: .unprocessableEntity, reason: reason) }
    static func notFound(_ reason: String) -> AdminError { AdminError(status: .notFound, reason: reason) }
}
