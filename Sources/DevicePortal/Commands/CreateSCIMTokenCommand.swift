import Vapor

/// `portal create-scim-token --org S`: a directory token for the organization's SCIM
/// provisioning, printed once.
struct CreateSCIMTokenCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "org", help: "The organization's slug.")
        var org: String?
        init() {}
    }

    var help: String { "Makes a directory token for the organization's SCIM provisioning; it is shown once." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let db = context.application.db
        let organization = try await CommandLookups(db: db).organization(slug: try signature.org.required("org"))
        let token = try await DirectoryTokens.create(by: .commandLine(in: organization), on: db)
        context.console.print("Directory token \(token.id) for \(organization.slug) (shown once, keep it secret):")
        context.console.print(token.token ?? "")
        context.console.print("SCIM base URL: \(context.application.publicBaseURL)/scim/v2")
    }
}
