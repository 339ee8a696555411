import Fluent
import Vapor

/// `portal demo [--hostname H] [--port P]`: seeds a demo user, organization and desktop
/// client, prints how to sign in (with a password made for this run) and how to try the
/// flow with curl, then serves.
struct DemoCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "hostname", short: "H", help: "The address to listen on (default 127.0.0.1).")
        var hostname: String?
        @Option(name: "port", short: "p", help: "The port to listen on (default 8080).")
        var port: Int?
        init() {}
    }

    static let email = "demo@example.com"
    static let organizationSlug = "demo"
    static let clientID = "demo-cli"

    var help: String { "Seeds demo data, prints how to try the device flow, and starts the server." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        if let hostname = signature.hostname { app.http.server.configuration.hostname = hostname }
        if let port = signature.port { app.http.server.configuration.port = port }
        let password = OpaqueSecret.base64URL().prefix(16)
        try await seed(password: String(password), on: app)
        var serve = context
        serve.input = CommandInput(arguments: ["portal"])  // listen where the configuration says
        try await app.servers.asyncCommand.run(using: &serve)
        context.console.print(instructions(base: app.publicBaseURL, password: String(password)))
    }

    /// Creates what is missing; the demo user's password is new on every run, never a fixed one.
    private func seed(password: String, on app: Application) async throws {
        let db = app.db
        let hash = try Bcrypt.hash(password, cost: app.config.bcryptCost)
        let user =
            try await User.find(email: Self.email, on: db)
            ?? User(email: Self.email, name: "Demo User", passwordHash: hash)
        user.passwordHash = hash
        try await user.save(on: db)
        let organization =
            try await Organization.find(slug: Self.organizationSlug, on: db)
            ?? Organization(slug: Self.organizationSlug, name: "Demo Company")
        try await organization.save(on: db)
        if try await Membership.find(userID: try user.requireID(), organizationID: try organization.requireID(), on: db)
            == nil
        {
            let owner = try await CommandLookups(db: db).role(named: BuiltInRole.owner.rawValue, in: organization)
            try await MemberAdministration.add(
                user,
                to: organization,
                as: owner,
                by: .commandLine(in: organization),
                on: db
            )
        }
        if try await OAuthClient.find(clientID: Self.clientID, on: db) == nil {
            try await OAuthClient(clientID: Self.clientID, name: "Demo Desktop App").create(on: db)
        }
    }

    private func instructions(base: String, password: String) -> String {
        """

        DevicePortal demo is running at \(base)
          Sign in at \(base)/login
            email:    \(Self.email)
            password: \(password)   (made for this run)

        Try the device flow as a desktop app would:
          1. curl -s -X POST \(base)/auth/device/code -d client_id=\(Self.clientID) -d device_name=$(hostname)
          2. Open the verification_uri_complete it prints, sign in, and approve.
          3. curl -s -X POST \(base)/auth/device/token -d grant_type=\(DeviceTokenController.grantType) \\
                  -d client_id=\(Self.clientID) -d device_code=<device_code from step 1>
          4. curl -s \(base)/me -H "Authorization: Bearer <access_token from step 3>"

        """
    }
}
