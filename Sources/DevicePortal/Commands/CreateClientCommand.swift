import Fluent
import Vapor

/// `portal create-client --client-id C --name N [--confidential]`
struct CreateClientCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "client-id", help: "The id the app sends as client_id.")
        var clientID: String?
        @Option(name: "name", help: "The name people see on the approval page.")
        var name: String?
        @Flag(name: "confidential", help: "A client for other services, with a secret printed once.")
        var confidential: Bool
        init() {}
    }

    var help: String { "Registers an OAuth client: a public desktop app, or a confidential service." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let clientID = try signature.clientID.required("client-id")
        let name = try signature.name.required("name")
        guard OAuthClient.isValid(clientID: clientID) else {
            throw CommandFailure("\"\(clientID)\" is not a valid client id: use 1 to 100 of A-Z a-z 0-9 . _ ~ : -")
        }
        guard name.fits(100) else { throw CommandFailure("The name must be at most 100 characters.") }
        let db = context.application.db
        guard try await OAuthClient.find(clientID: clientID, on: db) == nil else {
            throw CommandFailure("A client with the id \(clientID) already exists.")
        }
        let secret = signature.confidential ? OpaqueSecret.hex() : nil
        try await OAuthClient(clientID: clientID, name: name, secretHash: secret.map(OpaqueSecret.hash)).create(on: db)
        if let secret {
            context.console.print("Created confidential client \(clientID) (\(name)).")
            context.console.print("Its secret, shown only now: \(secret)")
        } else {
            context.console.print("Created public client \(clientID) (\(name)).")
        }
    }
}
