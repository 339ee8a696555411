import Fluent
import Foundation

/// Custom roles of an organization: named sets of the permissions.
enum RoleAdministration {
    struct Summary: Sendable {
        let name: String
        let permissions: [Permission]
        let builtIn: Bool
        let members: Int
    }

    /// The built-in roles, then the organization's own, each with how many members hold it.
    static func roles(of organizationID: UUID, on db: any Database) async throws -> [Summary] {
        let roles = try await Role.query(on: db)
            .group(.or) { $0.filter(\.$organization.$id == nil).filter(\.$organization.$id == organizationID) }
            .all()
        let held = try await Membership.query(on: db).filter(\.$organization.$id == organizationID).all(\.$role.$id)
        let builtInOrder = BuiltInRole.allCases.map(\.rawValue)
        return try roles.map { role in
            let id = try role.requireID()
            return Summary(
                name: role.name,
                permissions: role.permissions.sorted(),
                builtIn: role.$organization.id == nil,
                members: held.filter { $0 == id }.count
            )
        }.sorted { lhs, rhs in
            switch (builtInOrder.firstIndex(of: lhs.name), builtInOrder.firstIndex(of: rhs.name)) {
            case let (l?, r?): l < r
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): lhs.name < rhs.name
            }
        }
    }

    static func create(
        named name: String,
        permissions: [String],
        by admin: Administrator,
        on db: any Database
    )
        async throws -> Role
    {
        try admin.require(.rolesManage)
        try requireValidName(name)
        let granted = try parse(permissions)
        try admin.requireHolding(granted)
        return try await db.transaction { tx in
            if try await Role.find(named: name, in: admin.organizationID, on: tx) != nil {
                throw AdminError.conflict("There is already a role named \(name).")
            }
            let role = Role(name: name, permissions: granted, organizationID: admin.organizationID)
            try await role.create(on: tx)
            try await AuditEvent.record(
                .roleCreated,
                by: admin.audit,
                in: admin.organizationID,
                details: ["role": name, "permissions": Permission.encode(granted)],
                on: tx
            )
            return role
        }
    }

    /// Renames a custom role and/or replaces its permissions; holders feel it on their next request.
    static func update(
        named name: String,
        newName: String?,
        permissions: [String]?,
        by admin: Administrator,
        on db: any Database
    ) async throws -> Role {
        try admin.require(.rolesManage)
        if let newName { try requireValidName(newName) }
        let granted = try permissions.map(parse)
        if let granted { try admin.requireHolding(granted) }
        return try await db.transaction { tx in
            let role = try await requireCustomRole(name, admin, on: tx)
            if let newName, newName != name,
                try await Role.find(named: newName, in: admin.organizationID, on: tx) != nil
            {
                throw AdminError.conflict("There is already a role named \(newName).")
            }
            role.name = newName ?? role.name
            if let granted { role.storedPermissions = Permission.encode(granted) }
            try await role.update(on: tx)
            // The directory's default role is named: it follows a rename (an owner chose it).
            try await tx.sql.update(Organization.schema).set("scim_default_role", to: role.name)
                .where("id", .equal, admin.organizationID).where("scim_default_role", .equal, name).run()
            try await AuditEvent.record(
                .roleUpdated,
                by: admin.audit,
                in: admin.organizationID,
                details: ["role": name, "name": role.name, "permissions": role.storedPermissions],
                on: tx
            )
            return role
        }
    }

    static func delete(named name: String, by admin: Administrator, on db: any Database) async throws {
        try admin.require(.rolesManage)
        try await db.transaction { tx in
            let role = try await requireCustomRole(name, admin, on: tx)
            let holders = try await Membership.query(on: tx).filter(\.$role.$id == role.requireID()).count()
            guard holders == 0 else {
                throw AdminError.conflict(
                    "\(Wording.count(holders, "member")) still \(holders == 1 ? "holds" : "hold") the role \(name): give them another role first."
                )
            }
            guard try await Organization.find(admin.organizationID, on: tx)?.scimDefaultRole != name else {
                throw AdminError.conflict(
                    "The directory gives new members the role \(name): choose another default role in the settings first."
                )
            }
            try await role.delete(on: tx)
            try await AuditEvent.record(
                .roleDeleted,
                by: admin.audit,
                in: admin.organizationID,
                details: ["role": name],
                on: tx
            )
        }
    }

    static func parse(_ names: [String]) throws -> Set<Permission> {
        var permissions = Set<Permission>()
        for name in names {
            guard let permission = Permission(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                let known = Permission.allCases.map(\.rawValue).joined(separator: ", ")
                throw AdminError.invalid("Unknown permission \"\(name)\". Known permissions: \(known).")
            }
            permissions.insert(permission)
        }
        return permissions
    }

    private static func requireValidName(_ name: String) throws {
        guard Role.isValidCustomName(name) else {
            throw AdminError.invalid(
                "\"\(name)\" is not a valid role name: use [a-z][a-z0-9-]{0,31}, and not owner, admin, member or viewer."
            )
        }
    }

    private static func requireCustomRole(
        _ name: String,
        _ admin: Administrator,
        on db: any Database
    ) async throws
        -> Role
    {
        guard let role = try await Role.find(named: name, in: admin.organizationID, on: db) else {
            throw AdminError.notFound("There is no role named \(name).")
        }
        guard role.$organization.id != nil else { throw AdminError.forbidden("Built-in roles cannot be changed.") }
        return role
    }
}
