import Fluent
import Foundation

/// An OAuth client. Public clients (desktop apps) run the device flow; confidential
/// ones (other services) hold a secret, stored only as a hash.
final class OAuthClient: Model, @unchecked Sendable {
    static let schema = "clients"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    @Field(key: "client_id") var clientID: String
    @Field(key: "name") var name: String
    @OptionalField(key: "secret_hash") var secretHash: String?

    init() {}

    init(clientID: String, name: String, secretHash: String? = nil) {
        self.clientID = clientID
        self.name = name
        self.secretHash = secretHash
    }

    var isConfidential: Bool { secretHash != nil }

    /// Printable ASCII without spaces, 1 to 100 characters.
    static func isValid(clientID: String) -> Bool {
        clientID.wholeMatch(of: /[A-Za-z0-9._~:-]{1,100}/) != nil
    }

    static func find(clientID: String, on db: any Database) async throws -> OAuthClient? {
        try await OAuthClient.query(on: db).filter(\.$clientID == clientID).first()
    }

    /// The device flow is for public clients only: an unknown or confidential client is `invalid_client`.
    static func requirePublic(_ clientID: String, on db: any Database) async throws -> OAuthClient {
        guard let client = try await find(clientID: clientID, on: db), !client.isConfidential else {
            throw JSONError.invalidClient("Unknown client_id, or a client that may not use the device flow.")
        }
        return client
    }
}

struct CreateClients: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(OAuthClient.schema)
            .id()
            .field("client_id", .string, .required)
            .field("name", .string, .required)
            .field("secret_hash", .string)
            .field("created_at", .datetime)
            .unique(on: "client_id")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(OAuthClient.schema).delete()
    }
}
