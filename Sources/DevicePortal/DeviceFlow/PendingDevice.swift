import Fluent
import Foundation
import SQLKit

/// A device waiting for a person's decision, found by the user code they typed, and the
/// conditional updates that decide it: each names the state it leaves, so an expired,
/// denied or used code can never be approved, and a second submission changes nothing.
struct PendingDevice {
    let authorization: DeviceAuthorization
    let client: OAuthClient

    static func find(userCode: String, at now: Date, on db: any Database) async throws -> PendingDevice? {
        let found = try await DeviceAuthorization.query(on: db)
            .join(OAuthClient.self, on: \DeviceAuthorization.$client.$id == \OAuthClient.$id)
            .filter(\.$userCode == userCode)
            .filter(\.$status == .pending)
            .filter(\.$expiresAt > now)
            .first()
        guard let found else { return nil }
        return PendingDevice(authorization: found, client: try found.joined(OAuthClient.self))
    }

    /// pending → approved for this user and org; `false` if the code was no longer pending.
    static func approve(
        userCode: String,
        userID: UUID,
        organizationID: UUID,
        at now: Date,
        on db: any Database
    )
        async throws -> Bool
    {
        try await decide(
            userCode: userCode,
            status: .approved,
            at: now,
            extra: [("approved_user_id", userID), ("approved_organization_id", organizationID)],
            on: db
        )
    }

    /// pending → denied; `false` if the code was no longer pending.
    static func deny(userCode: String, at now: Date, on db: any Database) async throws -> Bool {
        try await decide(userCode: userCode, status: .denied, at: now, extra: [], on: db)
    }

    private static func decide(
        userCode: String,
        status: DeviceAuthorization.Status,
        at now: Date,
        extra: [(String, UUID)],
        on db: any Database
    ) async throws -> Bool {
        var update = db.sql.update(DeviceAuthorization.schema)
            .set("status", to: status.rawValue)
            .set("decided_at", to: now)
        for (column, value) in extra { update = update.set(column, to: value) }
        let decided =
            try await update
            .where("user_code", .equal, userCode)
            .where("status", .equal, DeviceAuthorization.Status.pending.rawValue)
            .where("expires_at", .greaterThan, now)
            .returning("id")
            .all()
        return !decided.isEmpty
    }
}
