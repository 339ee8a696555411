import DevicePortalClient
import Foundation

/// `portal whoami [--insecure-http]`: who the stored token acts as, asked of the server.
struct WhoamiCommand {
    let context: ClientContext

    static let usage = """
        Usage: portal whoami [--insecure-http]

        Shows who this machine is signed in as (after portal login): the user, the organization and
        the current role, as the server sees them now.
          --insecure-http     allow a server on plain http that is not this machine
        """

    func run(_ arguments: [String]) async -> Int32 {
        let parsed: ClientArguments
        switch context.parse(arguments, flags: ["insecure-http"], usage: Self.usage) {
        case .run(let arguments): parsed = arguments
        case .stop(let status): return status
        }
        let insecureHTTP = parsed.flags.contains("insecure-http")
        let signIns: StoredSignIns
        do {
            signIns = StoredSignIns(try context.credentialStores())
        } catch {
            return context.fail("Cannot read the stored credentials: \(error.localizedDescription)")
        }
        var status = ExitStatus.success
        for unreadable in signIns.unreadable {
            context.printError(
                "error: Cannot read the stored credentials: \(unreadable.error.localizedDescription)"
            )
            status = ExitStatus.failure
        }
        if signIns.found.isEmpty {
            return signIns.unreadable.isEmpty
                ? context.fail(ClientMessages.notSignedIn(lookedIn: signIns.locations)) : status
        }
        for signIn in signIns.found {
            let stored = signIn.credentials
            if context.refusesPlainHTTP(to: stored.server, insecureHTTP: insecureHTTP) {
                status = ExitStatus.failure
                continue
            }
            let client = context.client(server: stored.server, clientID: stored.clientID, insecureHTTP: insecureHTTP)
            do {
                let me = try await client.me(stored.token)
                context.print(
                    "Signed in to \(ServerText.singleLine(stored.server.absoluteString)) as "
                        + "\(ClientMessages.person(me.user)) in \(ClientMessages.organization(me.organization)), "
                        + "role \(ServerText.singleLine(me.role.name))."
                )
                if let expiresAt = me.expiresAt {
                    context.print("The token is valid until \(expiresAt.formatted(.iso8601)).")
                }
                if signIns.found.count > 1 { context.print("(stored in \(signIn.store.location))") }
            } catch {
                context.printError(
                    "error: " + ClientMessages.describe(error, server: stored.server, clientID: stored.clientID)
                )
                status = ExitStatus.failure
            }
        }
        return status
    }
}
