import Fluent
import Foundation
import Vapor

/// A person who signs in to the portal. Never `Content`: it holds a password hash.
final class User: Model, @unchecked Sendable {
    static let schema = "users"

    // managed fields
    @ID(key: .id) var id: UUID?
    @Timestamp(key: "created_at", on: .create) var createdAt: Date?

    // data fields
    /// Stored lowercased, so uniqueness ignores case.
    @Field(key: "email") var email: String
    @Field(key: "name") var name: String
    /// `noPassword` for an account no password signs in to.
    @Field(key: "password_hash") var passwordHash: String

    /// The stored "hash" of an account made by the identity provider or the directory: no
    /// password matches it.
    static let noPassword = ""

    init() {}

    init(email: String, name: String, passwordHash: String) {
        self.email = User.normalize(email: email)
        self.name = name
        self.passwordHash = passwordHash
    }

    static func normalize(email: String) -> String {
        email.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// A deliberately plain check: one `@`, a dotted domain, no spaces, at most 254 characters.
    static func isValid(email: String) -> Bool {
        email.fits(254) && !email.containsControlCharacters && email.wholeMatch(of: /[^@\s]+@[^@\s]+\.[^@\s]+/) != nil
    }

    static func find(email: String, on db: any Database) async throws -> User? {
        try await User.query(on: db).filter(\.$email == normalize(email: email)).first()
    }
}

struct CreateUsers: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema(User.schema)
            .id()
            .field("email", .string, .required)
            .field("name", .string, .required)
            .field("password_hash", .string, .required)
            .field("created_at", .datetime)
            .unique(on: "email")
            .create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema(User.schema).delete()
    }
}

/// A user as the API shows them.
struct UserDTO: Content {
    let id: UUID
    let email: String
    let name: String
}

extension UserDTO {
    init(_ user: User) {
        self.init(id: user.id!, email: user.email, name: user.name)
    }
}
