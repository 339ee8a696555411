import Fluent
import Vapor

/// `portal link-identity --email E --issuer I --subject S`: the link an OpenID Connect sign-in
/// would make, by hand (for accounts whose email the provider does not verify, or for the
/// company's session JWTs without a sign-in first).
struct LinkIdentityCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "email", help: "The account's email.")
        var email: String?
        @Option(name: "issuer", help: "The provider's issuer, exactly as its tokens' iss claim says it.")
        var issuer: String?
        @Option(name: "subject", help: "The person's sub claim at that provider.")
        var subject: String?
        init() {}
    }

    var help: String { "Links an account to a person's identity (issuer, subject) at an identity provider." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let db = context.application.db
        let user = try await CommandLookups(db: db).user(email: try signature.email.required("email"))
        let issuer = try signature.issuer.required("issuer")
        let subject = try signature.subject.required("subject")
        guard LinkedIdentity.isValid(subject: issuer), LinkedIdentity.isValid(subject: subject) else {
            throw CommandFailure("The issuer and the subject must be 1 to 255 bytes, with no control characters.")
        }
        if let existing = try await LinkedIdentity.find(issuer: issuer, subject: subject, on: db) {
            guard existing.$user.id == user.id else {
                throw CommandFailure("That identity is already linked to another account.")
            }
            context.console.print("\(user.email) was already linked to \(subject) at \(issuer).")
            return
        }
        try await LinkedIdentity(issuer: issuer, subject: subject, userID: try user.requireID()).create(on: db)
        context.console.print("Linked \(user.email) to \(subject) at \(issuer).")
    }
}
