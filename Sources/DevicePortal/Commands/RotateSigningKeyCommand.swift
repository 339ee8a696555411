import Vapor

/// `portal rotate-signing-key`
struct RotateSigningKeyCommand: AsyncCommand {
    struct Signature: CommandSignature {
        init() {}
    }

    var help: String {
        "Adds a new session JWT signing key; the old public keys stay published until their JWTs expire."
    }

    func run(using context: CommandContext, signature: Signature) async throws {
        let app = context.application
        guard let secret = app.config.portalSecret else { throw CommandFailure("PORTAL_SECRET is not set.") }
        let key = try await SigningKeyStore.rotate(secret: secret, on: app.db)
        context.console.print(
            "New signing key \(key.kid) is active; earlier keys are retired and stay in the JWKS for "
                + "\(app.config.sessionJWTTTL + Int(SigningKeyStore.refreshInterval + SigningKeyStore.leeway)) s."
        )
    }
}
