import DevicePortalClient
import Foundation

/// `portal logout [--insecure-http]`: revokes the token on the server, then forgets it here.
struct LogoutCommand {
    let context: ClientContext

    static let usage = """
        Usage: portal logout [--insecure-http]

        Signs this machine out: the server revokes the token, then this machine forgets it. If the
        server cannot be reached, the token stays stored so that you can try again.
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
                "error: Cannot read the stored credentials: \(unreadable.error.localizedDescription)\n"
                    + "Nothing there was revoked or removed."
            )
            status = ExitStatus.failure
        }
        if signIns.found.isEmpty && signIns.unreadable.isEmpty {
            context.print("Not signed in: nothing to do.")
            return ExitStatus.success
        }
        var revoked: [AccessToken] = []
        for signIn in signIns.found {
            let stored = signIn.credentials
            let server = ServerText.singleLine(stored.server.absoluteString)
            if !revoked.contains(stored.token) {
                if context.refusesPlainHTTP(to: stored.server, insecureHTTP: insecureHTTP) {
                    context.printError("The token is still stored in \(signIn.store.location).")
                    status = ExitStatus.failure
                    continue
                }
                let client = context.client(
                    server: stored.server,
                    clientID: stored.clientID,
                    insecureHTTP: insecureHTTP
                )
                do {
                    try await client.signOut(stored.token)
                } catch {
                    // Forgetting a token the server still accepts would leave it valid and out of reach.
                    context.printError(
                        "error: " + ClientMessages.describe(error, server: stored.server, clientID: stored.clientID)
                            + "\nThe token is still stored in \(signIn.store.location): run portal logout again when "
                            + "\(server) answers, or revoke this device on \(server)/settings/devices."
                    )
                    status = ExitStatus.failure
                    continue
                }
                revoked.append(stored.token)
            }
            do {
                try signIn.store.delete()
            } catch {
                context.printError(
                    "error: The token is revoked on \(server), but could not be removed from "
                        + "\(signIn.store.location): \(error.localizedDescription)"
                )
                status = ExitStatus.failure
                continue
            }
            context.print("Signed out of \(server): the token is revoked and no longer stored on this machine.")
        }
        return status
    }
}
