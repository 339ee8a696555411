import Fluent
import Foundation
import SQLKit

/// One run of the device flow, from the app's request to the token exchange.
/// States: pending → approved → consumed, or pending → denied; past `expires_at`, any
/// state but consumed counts as expired. Transitions are conditional updates.
final class DeviceAuthorization: Model, @unchecked Sendable {
    static let schema = "device_authorizations"

    enum Status: String, Codable {
        case pending, approved, denied, consumed
    }

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "device_code_hash") var deviceCodeHash: String
    @Field(key: "user_code") var userCode: String
    @Field(key: "status") var status: Status
    @Field(key: "expires_at") var expiresAt: Date
    /// Seconds the app must wait between polls; grows by 5 with every `slow_down`.
    @Field(key: "poll_interval") var pollInterval: Int
    @OptionalField(key: "last_polled_at") var lastPolledAt: Date?
    /// Whether the latest poll came too early; lets the single poll statement report it.
    @Field(key: "last_poll_was_early") var lastPollWasEarly: Bool
    @OptionalField(key: "device_name") var deviceName: String?
    @OptionalField(key: "requester_ip") var requesterIP: String?
    @OptionalField(key: "requester_user_agent") var requesterUserAgent: String?
    @OptionalField(key: "decided_at") var decidedAt: Date?

    // relationships
    @Parent(key: "client_id") var client: OAuthClient
    @OptionalParent(key: "approved_user_id") var approvedUser: User?
    @OptionalParent(key: "approved_organization_id") var approvedOrganization: Organization?

    init() {}

    init(
        deviceCodeHash: String,
        userCode: String,
        clientID: UUID,
        expiresAt: Date,
        pollInterval: Int,
        deviceName: String?,
        requesterIP: String?,
        requesterUserAgent: String?
    ) {
        self.deviceCodeHash = deviceCodeHash
        self.userCode = userCode
        self.$client.id = clientID
        self.status = .pending
        self.expiresAt = expiresAt
        self.pollInterval = pollInterval
        self.lastPollWasEarly = false
        self.deviceName = deviceName
        self.requesterIP = requesterIP
        self.requesterUserAgent = requesterUserAgent
    }
}

struct CreateDeviceAuthorizations: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(DeviceAuthorization.schema)
            .id()
            .field("device_code_hash", .string, .required)
            .field("user_code", .string, .required)
            .field("client_id", .uuid, .required, .references(OAuthClient.schema, .id, onDelete: .cascade))
            .field("status", .string, .required)
            .field("created_at", .datetime)
            .field("expires_at", .datetime, .required)
            .field("poll_interval", .int, .required)
            .field("last_polled_at", .datetime)
            .field("last_poll_was_early", .bool, .required, .sql(.default(false)))
            .field("device_name", .string)
            .field("requester_ip", .string)
            .field("requester_user_agent", .string)
            .field("approved_user_id", .uuid, .references(User.schema, .id, onDelete: .setNull))
            .field(
                "approved_organization_id",
                .uuid,
                .references(Organization.schema, .id, onDelete: .setNull)
            )
            .field("decided_at", .datetime)
            .unique(on: "device_code_hash")
            .unique(on: "user_code")
            .create()
        try await database.createIndex(
            on: DeviceAuthorization.schema,
            named: "device_authorizations_expires_at",
            columns: "expires_at"
        )
    }

    func revert(on database: any Database) async throws {
        try await database.schema(DeviceAuthorization.schema).delete()
    }
}

/// Lets housekeeping count each code that expired unused exactly once, whichever instance
/// runs the round: it flips the flag and counts the rows it flipped.
struct AddDeviceAuthorizationExpiryCounted: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(DeviceAuthorization.schema)
            .field("expiry_counted", .bool, .required, .sql(.default(false)))
            .update()
        // Codes that expired before this version are not counted late, all at once.
        try await database.sql.update(DeviceAuthorization.schema).set("expiry_counted", to: true)
            .where("expires_at", .lessThanOrEqual, Date()).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(DeviceAuthorization.schema).deleteField("expiry_counted").update()
    }
}
