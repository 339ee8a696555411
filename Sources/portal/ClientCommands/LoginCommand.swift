import DevicePortalClient
import Foundation

/// `portal login --server URL --client-id ID [--device-name NAME] [--no-browser]`
struct LoginCommand {
    let context: ClientContext

    static let usage = """
        Usage: portal login --server URL --client-id ID [--device-name NAME] [--no-browser]

        Signs this machine in to a DevicePortal server: shows a code, opens the approval page in
        your browser, waits until you approve there, then stores the token for this user.
          --server URL        the portal, such as https://portal.example.com
          --client-id ID      the desktop app's client id (registered with portal create-client)
          --device-name NAME  the name the approval page shows (default: this machine's host name)
          --no-browser        print the link but do not open a browser
        """

    func run(_ arguments: [String]) async -> Int32 {
        let server: URL
        let clientID: String
        let deviceName: String
        let openBrowser: Bool
        do {
            let parsed = try ClientArguments(
                arguments, options: ["server", "client-id", "device-name"], flags: ["no-browser"])
            if parsed.wantsHelp {
                context.print(Self.usage)
                return ExitStatus.success
            }
            server = try ServerAddress.parse(try parsed.required("server", "URL (the portal's address)"))
            clientID = try parsed.required("client-id", "ID (the desktop app's client id)")
            deviceName = DeviceName.clean(parsed.values["device-name"] ?? context.hostName)
            openBrowser = !parsed.flags.contains("no-browser")
        } catch {
            return context.usageError(error, usage: Self.usage)
        }
        if let warning = ServerAddress.plainHTTPWarning(server) { context.printError("warning: " + warning) }

        let store: any CredentialStore
        do {
            store = try context.credentialStore()
        } catch {
            return context.fail("Cannot keep a token on this machine: \(error.localizedDescription)")
        }
        let client = context.client(server: server, clientID: clientID)
        do {
            let signIn = try await client.startSignIn(deviceName: deviceName.isEmpty ? nil : deviceName)
            show(signIn, openBrowser: openBrowser)
            let signedIn = try await client.waitForToken(signIn) { event in
                switch event {
                case .pending: break
                case .slowDown(let interval):
                    context.printError("The server asked for slower polling: now every \(interval.seconds) s.")
                case .retrying(let next, let reason):
                    context.printError("No answer from the server (\(reason)); trying again in \(next.seconds) s.")
                }
            }
            return await keep(signedIn, server: server, clientID: clientID, in: store)
        } catch {
            return context.fail(ClientMessages.describe(error, server: server, clientID: clientID))
        }
    }

    private func show(_ signIn: DeviceSignIn, openBrowser: Bool) {
        let link = signIn.verificationURIComplete ?? signIn.verificationURI
        context.print(
            """
            To sign in, open this page in a browser:

                \(link.absoluteString)

            and check that it shows the code \(signIn.userCode)
            (or open \(signIn.verificationURI.absoluteString) and type the code).
            """)
        context.print("")
        if openBrowser {
            context.print(
                context.openBrowser(link)
                    ? "Opened the page in your browser." : "Could not open a browser here: open the link yourself.")
        }
        context.print(
            "Waiting for your approval; the code expires in \(ClientMessages.duration(signIn.expiresIn)). "
                + "Press Ctrl-C to cancel.")
    }

    /// Stores the new sign-in, then signs the previous one out, so no forgotten token stays valid.
    private func keep(
        _ signedIn: SignedIn, server: URL, clientID: String, in store: any CredentialStore
    ) async -> Int32 {
        let client = context.client(server: server, clientID: clientID)
        let previous = try? store.load()
        do {
            try store.save(StoredCredentials(server: server, clientID: clientID, token: signedIn.token))
        } catch {
            try? await client.signOut(signedIn.token)
            return context.fail(
                "Signed in, but the token could not be stored (\(error.localizedDescription)); "
                    + "it has been revoked again.")
        }
        context.print(
            "Signed in to \(server.absoluteString) as \(ClientMessages.person(signedIn.user)) "
                + "in \(ClientMessages.organization(signedIn.organization)).")
        context.print("The token is stored in \(store.location).")
        if let previous, previous.token != signedIn.token {
            let old = context.client(server: previous.server, clientID: previous.clientID)
            do {
                try await old.signOut(previous.token)
                context.print("The previous sign-in (on \(previous.server.absoluteString)) is signed out.")
            } catch {
                context.printError(
                    "warning: the previous sign-in on \(previous.server.absoluteString) could not be revoked "
                        + "(\(error.localizedDescription)); revoke it on \(previous.server.absoluteString)/settings/devices."
                )
            }
        }
        return ExitStatus.success
    }
}

extension Duration {
    /// Whole seconds, for messages.
    var seconds: Int64 { components.seconds }
}
