import DevicePortalClient
import Foundation

/// `portal whoami`: who the stored token acts as, asked of the server.
struct WhoamiCommand {
    let context: ClientContext

    static let usage = """
        Usage: portal whoami

        Shows who this machine is signed in as (after portal login): the user, the organization and
        the current role, as the server sees them now.
        """

    func run(_ arguments: [String]) async -> Int32 {
        if let status = context.stopBeforeRunning(arguments, usage: Self.usage) { return status }
        let stored: StoredCredentials
        do {
            guard let credentials = try context.credentialStore().load() else {
                return context.fail(ClientMessages.notSignedIn)
            }
            stored = credentials
        } catch {
            return context.fail("Cannot read the stored credentials: \(error.localizedDescription)")
        }
        let client = context.client(server: stored.server, clientID: stored.clientID)
        do {
            let me = try await client.me(stored.token)
            context.print(
                "Signed in to \(stored.server.absoluteString) as \(ClientMessages.person(me.user)) "
                    + "in \(ClientMessages.organization(me.organization)), role \(me.role.name).")
            if let expiresAt = me.expiresAt {
                context.print("The token is valid until \(expiresAt.formatted(.iso8601)).")
            }
            return ExitStatus.success
        } catch {
            return context.fail(ClientMessages.describe(error, server: stored.server, clientID: stored.clientID))
        }
    }
}
