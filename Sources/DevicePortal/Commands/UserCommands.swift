import Fluent
import Vapor

/// `portal create-user --email E --name N [--password P]`
struct CreateUserCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "email", help: "The user's email address (unique, any case).")
        var email: String?
        @Option(name: "name", help: "The user's display name.")
        var name: String?
        @Option(
            name: "password",
            help: "For scripts and tests only: it shows in the process list. Else read from stdin."
        )
        var password: String?
        init() {}
    }

    var help: String { "Creates a user who can sign in to the portal." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let email = User.normalize(email: try signature.email.required("email"))
        let name = try signature.name.required("name")
        guard User.isValid(email: email) else { throw CommandFailure("\"\(email)\" is not a valid email address.") }
        guard name.fits(100) else { throw CommandFailure("The name must be at most 100 characters.") }
        let db = context.application.db
        guard try await User.find(email: email, on: db) == nil else {
            throw CommandFailure("A user with the email \(email) already exists.")
        }
        let password = try signature.password ?? PasswordPrompt.read(console: context.console)
        if let problem = Passwords.problem(with: password) { throw CommandFailure(problem) }
        let hash = try Bcrypt.hash(password, cost: context.application.config.bcryptCost)
        let user = User(email: email, name: name, passwordHash: hash)
        try await user.create(on: db)
        context.console.print("Created user \(user.email) (\(user.name)), id \(try user.requireID()).")
    }
}

/// Reads one line from standard input, without echo when it is a terminal.
enum PasswordPrompt {
    static func read(console: any Console) throws -> String {
        let isTerminal = isatty(STDIN_FILENO) == 1
        if isTerminal { console.output("Password: ", newLine: false) }
        var saved = termios()
        if isTerminal {
            tcgetattr(STDIN_FILENO, &saved)
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        }
        defer {
            if isTerminal {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                console.print()
            }
        }
        guard let line = readLine(strippingNewline: true) else {
            throw CommandFailure("No password given: pass one line on standard input (or --password in scripts).")
        }
        return line
    }
}

/// `portal revoke-tokens --email E [--org S]`
struct RevokeTokensCommand: AsyncCommand {
    struct Signature: CommandSignature {
        @Option(name: "email", help: "Whose tokens to revoke.")
        var email: String?
        @Option(name: "org", help: "Only the tokens of this organization (slug).")
        var org: String?
        init() {}
    }

    var help: String { "Revokes a user's API tokens, in one organization or in all." }

    func run(using context: CommandContext, signature: Signature) async throws {
        let lookups = CommandLookups(db: context.application.db)
        let user = try await lookups.user(email: try signature.email.required("email"))
        var organization: Organization?
        if let slug = signature.org { organization = try await lookups.organization(slug: slug) }
        let organizationID = try organization?.requireID()
        let outcome = try await TokenRevocation.revoke(
            .all(userID: try user.requireID(), organizationID: organizationID),
            reason: .admin,
            audit: .commandLine,
            on: context.application.db
        )
        let count = outcome.revokedTokens
        let scope = organization.map { " in \($0.slug)" } ?? ""
        context.console.print("Revoked \(Wording.count(count, "token")) of \(user.email)\(scope).")
    }
}
