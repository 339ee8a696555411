import Fluent
import Foundation

/// What the directory does to the organization's members, whatever SCIM request carries it.
/// A User of the directory is a person who is a member of the organization, or whom its
/// directory provisioned and deactivated: `active` is the membership. Each change runs in one
/// transaction behind the organization's lock (the one member removal takes): deactivating or
/// deleting removes the membership and revokes the person's tokens and approved device codes
/// in the organization, never the last owner; activating makes a new membership with the
/// organization's `scim_default_role`, and no old token lives again.
enum DirectoryProvisioning {
    struct Record: Sendable {
        let userID: UUID
        let email: String
        let accountName: String
        let active: Bool
        /// The directory's own attributes; `nil` for a member the directory never provisioned.
        let directoryAttributes: [String: SCIMValue]?
        let created: Date
        let lastModified: Date

        /// What the directory sees besides `userName` and `active`: its own attributes, or, for a
        /// member it never provisioned, the account's name and email.
        var attributes: [String: SCIMValue] {
            directoryAttributes ?? [
                "name": .object(["formatted": .string(accountName)]),
                "displayName": .string(accountName),
                "emails": .array([.object(["value": .string(email), "primary": .bool(true)])]),
            ]
        }

        /// The writable part, as a PATCH works on it.
        var document: SCIMUserDocument {
            var attributes = attributes
            attributes["userName"] = .string(email)
            attributes["active"] = .bool(active)
            return SCIMUserDocument(attributes: attributes)
        }
    }

    static func record(_ userID: UUID, in directory: Directory, on db: any Database) async throws -> Record? {
        guard let user = try await User.find(userID, on: db) else { return nil }
        return try await record(of: user, in: directory, on: db)
    }

    /// The User whose `userName` is `email` (what `filter=userName eq "…"` asks for).
    static func record(userName email: String, in directory: Directory, on db: any Database) async throws -> Record? {
        guard User.isValid(email: email), let user = try await User.find(email: email, on: db) else { return nil }
        return try await record(of: user, in: directory, on: db)
    }

    private static func record(of user: User, in directory: Directory, on db: any Database) async throws -> Record? {
        let userID = try user.requireID()
        let membership = try await Membership.find(userID: userID, organizationID: directory.organizationID, on: db)
        let row = try await DirectoryUser.find(userID: userID, organizationID: directory.organizationID, on: db)
        return makeRecord(user, membership: membership, row: row)
    }

    /// Every User of the directory, by email.
    static func all(in directory: Directory, on db: any Database) async throws -> [Record] {
        let memberships = try await Membership.query(on: db)
            .filter(\.$organization.$id == directory.organizationID)
            .with(\.$user)
            .all()
        let rows = try await DirectoryUser.query(on: db)
            .filter(\.$organization.$id == directory.organizationID)
            .with(\.$user)
            .all()
        let rowsByUser = Dictionary(rows.map { ($0.$user.id, $0) }) { first, _ in first }
        var records = memberships.compactMap { makeRecord($0.user, membership: $0, row: rowsByUser[$0.$user.id]) }
        let members = Set(memberships.map { $0.$user.id })
        records += rows.filter { !members.contains($0.$user.id) }.compactMap {
            makeRecord($0.user, membership: nil, row: $0)
        }
        return records.sorted { $0.email < $1.email }
    }

    /// POST: the account (with no password: the person signs in through the company's
    /// provider) if nobody has that email yet, the directory's record and (unless
    /// `active: false`) the membership. 409 `uniqueness` when the person is already a User here.
    static func create(
        _ document: SCIMUserDocument,
        in directory: Directory,
        on db: any Database
    ) async throws -> Record {
        let wanted = try document.validated()
        return try await guarded {
            try await db.transaction { tx in
                try await MemberAdministration.lockOrganization(directory.organizationID, on: tx)
                let user: User
                if let existing = try await User.find(email: wanted.email, on: tx) {
                    user = existing
                    let userID = try user.requireID()
                    let member = try await Membership.find(
                        userID: userID,
                        organizationID: directory.organizationID,
                        on: tx
                    )
                    let provisioned = try await DirectoryUser.find(
                        userID: userID,
                        organizationID: directory.organizationID,
                        on: tx
                    )
                    if member != nil || provisioned != nil {
                        throw SCIMError.uniqueness("\(wanted.email) is already a User of this organization.")
                    }
                    try await adoptName(wanted, of: user, in: directory, on: tx)
                } else {
                    let name = wanted.accountName ?? String(wanted.email.prefix { $0 != "@" })
                    user = User(email: wanted.email, name: name, passwordHash: User.noPassword)
                    try await user.create(on: tx)
                }
                let userID = try user.requireID()
                try await DirectoryUser(
                    organizationID: directory.organizationID,
                    userID: userID,
                    attributes: wanted.kept
                )
                .create(on: tx)
                if wanted.active ?? true { try await activate(user, in: directory, on: tx) }
                return try await requireRecord(userID, directory, tx)
            }
        }
    }

    /// PUT and PATCH: `change` turns the User's document into the new one. `active` left out
    /// of a replacement keeps the membership as it is.
    static func update(
        _ userID: UUID,
        in directory: Directory,
        on db: any Database,
        change: @escaping @Sendable (SCIMUserDocument) throws -> SCIMUserDocument
    ) async throws -> Record {
        let (record, revoked) = try await guarded {
            try await db.transaction { tx in
                try await MemberAdministration.lockOrganization(directory.organizationID, on: tx)
                let current = try await requireRecord(userID, directory, tx)
                let wanted = try change(current.document).validated()
                guard let user = try await User.find(userID, on: tx) else { throw notFound }
                if wanted.email != user.email {
                    try await changeEmail(of: user, to: wanted.email, in: directory, on: tx)
                }
                try await adoptName(wanted, of: user, in: directory, on: tx)
                let row =
                    try await DirectoryUser.find(userID: userID, organizationID: directory.organizationID, on: tx)
                    ?? DirectoryUser(organizationID: directory.organizationID, userID: userID, attributes: [:])
                row.attributes = DirectoryUser.encode(wanted.kept)
                row.updatedAt = Date()
                try await row.save(on: tx)
                var revoked = 0
                switch (current.active, wanted.active ?? current.active) {
                case (true, false): revoked = try await deactivate(user, in: directory, on: tx)
                case (false, true): try await activate(user, in: directory, on: tx)
                default: break
                }
                return (try await requireRecord(userID, directory, tx), revoked)
            }
        }
        directory.metrics?.tokensRevoked(revoked, reason: .memberRemoved)
        return record
    }

    /// DELETE: the membership (and the tokens) and the directory's record; the account stays,
    /// since it may belong to other organizations.
    static func delete(_ userID: UUID, in directory: Directory, on db: any Database) async throws {
        let revoked = try await guarded {
            try await db.transaction { tx in
                try await MemberAdministration.lockOrganization(directory.organizationID, on: tx)
                let current = try await requireRecord(userID, directory, tx)
                guard let user = try await User.find(userID, on: tx) else { throw notFound }
                let revoked = current.active ? try await deactivate(user, in: directory, on: tx) : 0
                try await DirectoryUser.query(on: tx)
                    .filter(\.$organization.$id == directory.organizationID)
                    .filter(\.$user.$id == userID)
                    .delete()
                return revoked
            }
        }
        directory.metrics?.tokensRevoked(revoked, reason: .memberRemoved)
    }

    // MARK: the membership

    private static func activate(_ user: User, in directory: Directory, on tx: any Database) async throws {
        let organization = try await Organization.find(directory.organizationID, on: tx)
        let wanted = organization?.scimDefaultRole ?? BuiltInRole.member.rawValue
        // Renames follow it and deleting it is refused, so it exists; never guess a wider one.
        guard let role = try await Role.find(named: wanted, in: directory.organizationID, on: tx) else {
            throw SCIMError.invalidValue("The organization's role for new members, \(wanted), does not exist.")
        }
        let userID = try user.requireID()
        try await Membership(userID: userID, organizationID: directory.organizationID, roleID: try role.requireID())
            .create(on: tx)
        try await AuditEvent.record(
            .memberAdded,
            by: directory.actor,
            in: directory.organizationID,
            about: AuditSubject(userID: userID, label: user.email),
            details: ["role": role.name],
            on: tx
        )
    }

    /// Removes the membership and, in the same transaction, revokes the person's tokens and
    /// ends their approved device codes in the organization; returns how many tokens died.
    private static func deactivate(_ user: User, in directory: Directory, on tx: any Database) async throws -> Int {
        let userID = try user.requireID()
        guard
            let membership = try await Membership.find(userID: userID, organizationID: directory.organizationID, on: tx)
        else { return 0 }
        if membership.role.name == BuiltInRole.owner.rawValue {
            do {
                try await MemberAdministration.requireAnotherOwner(directory.organizationID, on: tx)
            } catch let error as AdminError {
                throw SCIMError.mutability("\(user.email) is the organization's last owner: \(error.reason)")
            }
        }
        return try await MemberAdministration.end(
            membership,
            of: user,
            in: directory.organizationID,
            by: directory.actor,
            on: tx
        )
    }

    // MARK: the account

    /// The account is shared by every organization it belongs to: one organization's directory
    /// changes its email only while it belongs to no other one.
    private static func changeEmail(
        of user: User,
        to email: String,
        in directory: Directory,
        on tx: any Database
    )
        async throws
    {
        if try await User.find(email: email, on: tx) != nil {
            throw SCIMError.uniqueness("Another account has the email \(email).")
        }
        guard try await !belongsElsewhere(user, directory, tx) else {
            throw SCIMError.mutability(
                "\(user.email) also belongs to other organizations: only the portal's administrators change its email."
            )
        }
        user.email = email
        try await user.update(on: tx)
    }

    /// The directory's name becomes the account's, when the account belongs to this organization only.
    private static func adoptName(
        _ wanted: SCIMUserDocument.Validated,
        of user: User,
        in directory: Directory,
        on tx: any Database
    ) async throws {
        guard let name = wanted.accountName, name != user.name, try await !belongsElsewhere(user, directory, tx)
        else { return }
        user.name = name
        try await user.update(on: tx)
    }

    private static func belongsElsewhere(_ user: User, _ directory: Directory, _ tx: any Database) async throws -> Bool
    {
        let userID = try user.requireID()
        let memberships = try await Membership.query(on: tx)
            .filter(\.$user.$id == userID)
            .filter(\.$organization.$id != directory.organizationID)
            .count()
        let directories = try await DirectoryUser.query(on: tx)
            .filter(\.$user.$id == userID)
            .filter(\.$organization.$id != directory.organizationID)
            .count()
        return memberships + directories > 0
    }

    // MARK: helpers

    static let notFound = SCIMError.notFound("This organization has no User with that id.")

    private static func requireRecord(_ userID: UUID, _ directory: Directory, _ tx: any Database) async throws -> Record
    {
        guard let record = try await record(userID, in: directory, on: tx) else { throw notFound }
        return record
    }

    private static func makeRecord(_ user: User, membership: Membership?, row: DirectoryUser?) -> Record? {
        guard let userID = user.id, membership != nil || row != nil else { return nil }
        let created = row?.createdAt ?? membership?.createdAt ?? user.createdAt ?? Date(timeIntervalSince1970: 0)
        return Record(
            userID: userID,
            email: user.email,
            accountName: user.name,
            active: membership != nil,
            directoryAttributes: row?.decodedAttributes,
            created: created,
            lastModified: max(row?.updatedAt ?? created, created)
        )
    }

    /// A unique index that a concurrent request won (two directories creating one account) is a
    /// conflict, not a server error.
    private static func guarded<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as any DatabaseError where error.isConstraintFailure {
            throw SCIMError.uniqueness("Another request changed this User at the same time; try again.")
        }
    }
}
