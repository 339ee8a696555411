import DevicePortalClient
import Foundation

/// `portal logout`: revokes the token on the server, then forgets it here.
struct LogoutCommand {
    let context: ClientContext

    static let usage = """
        Usage: portal logout

        Signs this machine out: the server revokes the token, then this machine forgets it. If the
        server cannot be reached, the token stays stored so that you can try again.
        """

    func run(_ arguments: [String]) async -> Int32 {
        if let status = context.stopBeforeRunning(arguments, usage: Self.usage) { return status }
        let store: any CredentialStore
        let stored: StoredCredentials
        do {
            store = try context.credentialStore()
            guard let credentials = try store.load() else {
                context.print("Not signed in: nothing to do.")
                return ExitStatus.success
            }
            stored = credentials
        } catch {
            return context.fail("Cannot read the stored credentials: \(error.localizedDescription)")
        }
        let server = stored.server.absoluteString
        do {
            try await context.client(server: stored.server, clientID: stored.clientID).signOut(stored.token)
        } catch {
            // Forgetting a token the server still accepts would leave it valid and out of reach.
            return context.fail(
                ClientMessages.describe(error, server: stored.server, clientID: stored.clientID)
                    + "\nThe token is still stored here: run portal logout again when \(server) answers, "
                    + "or revoke this device on \(server)/settings/devices.")
        }
        do {
            try store.delete()
        } catch {
            return context.fail(
                "The token is revoked on \(server), but could not be removed here: \(error.localizedDescription)")
        }
        context.print("Signed out of \(server): the token is revoked and no longer stored on this machine.")
        return ExitStatus.success
    }
}
