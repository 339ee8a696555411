import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// The package root, so that Templates/ and Public/ load whatever the working directory.
let packageRoot =
    URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .path + "/"

/// Runs `test` against a fully configured, migrated portal with a database of its own:
/// a fresh SQLite file, or, when `DATABASE_URL` names PostgreSQL, a fresh database there.
func withPortal(
    _ adjust: (inout PortalConfig) -> Void = { _ in },
    _ test: (Application) async throws -> Void
) async throws {
    let database = try await TestDatabase.create()
    var config = PortalConfig(
        database: database.url,
        bcryptCost: 4,
        portalSecret: PortalSecret(String(repeating: "ab", count: 32))
    )
    adjust(&config)
    let app = try await Application.make(.testing)
    app.directory = DirectoryConfiguration(workingDirectory: packageRoot)
    app.logger.logLevel = .warning
    do {
        try configure(app, with: config)
        try await app.asyncBoot()
        try await test(app)
    } catch {
        try? await app.asyncShutdown()
        try? await database.drop()
        throw error
    }
    try await app.asyncShutdown()
    try await database.drop()
}

extension TestingHTTPResponse {
    /// The body decoded as one of the server's own response types, by its Content-Type: an
    /// answer of another shape fails the test and shows what came instead.
    func decoded<Answer: Decodable>(as type: Answer.Type = Answer.self) throws -> Answer {
        do {
            return try content.decode(Answer.self)
        } catch {
            throw TestFailure("not a \(Answer.self): \(status) \(text)\n\(error)")
        }
    }

    var text: String { body.string }
}

/// Form encoding, as browsers and OAuth clients send it.
func formBody(_ fields: [(String, String)]) -> ByteBuffer {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    let encoded = fields.map { name, value in
        "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
    }
    return ByteBuffer(string: encoded.joined(separator: "&"))
}

let formHeaders: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
