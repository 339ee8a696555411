import DevicePortalClient
import Foundation

/// `portal login --server URL --client-id ID [--device-name NAME] [--no-browser] [--insecure-http]`
struct LoginCommand {
    let context: ClientContext

    static let usage = """
        Usage: portal login --server URL --client-id ID [--device-name NAME] [--no-browser] [--insecure-http]

        Signs this machine in to a DevicePortal server: shows a code, opens the approval page in
        your browser, waits until you approve there, then stores the token for this user.
          --server URL        the portal, such as https://portal.example.com
          --client-id ID      the desktop app's client id (registered with portal create-client)
          --device-name NAME  the name the approval page shows (default: this machine's host name)
          --no-browser        print the link but do not open a browser
          --insecure-http     allow a server on plain http that is not this machine
        """

    func run(_ arguments: [String]) async -> Int32 {
        let server: URL
        let clientID: String
        let deviceName: String
        let openBrowser: Bool
        let insecureHTTP: Bool
        do {
            let parsed = try ClientArguments(
                arguments,
                options: ["server", "client-id", "device-name"],
                flags: ["no-browser", "insecure-http"]
            )
            if parsed.wantsHelp {
                context.print(Self.usage)
                return ExitStatus.success
            }
            server = try ServerAddress.parse(try parsed.required("server", "URL (the portal's address)"))
            clientID = try parsed.required("client-id", "ID (the desktop app's client id)")
            deviceName = DeviceName.clean(parsed.values["device-name"] ?? context.hostName)
            openBrowser = !parsed.flags.contains("no-browser")
            insecureHTTP = parsed.flags.contains("insecure-http")
        } catch {
            return context.usageError(error, usage: Self.usage)
        }
        if context.refusesPlainHTTP(to: server, insecureHTTP: insecureHTTP) { return ExitStatus.failure }

        let stores: [any CredentialStore]
        do {
            stores = try context.credentialStores()
        } catch {
            return context.fail("Cannot keep a token on this machine: \(error.localizedDescription)")
        }
        // Read before the sign-in: what cannot be read is said now, not silently overwritten later.
        let before = StoredSignIns(stores)
        for unreadable in before.unreadable {
            let replaced = unreadable.store.location == stores[0].location
            context.printError(
                "warning: the sign-in stored in \(unreadable.store.location) cannot be read "
                    + "(\(unreadable.error.localizedDescription)), so its token cannot be revoked from here"
                    + (replaced ? "; this sign-in will replace it" : "")
                    + ". If it holds a token, revoke that device on its portal's Your devices page (/settings/devices)."
            )
        }
        let client = context.client(server: server, clientID: clientID, insecureHTTP: insecureHTTP)
        do {
            let signIn = try await client.startSignIn(deviceName: deviceName.isEmpty ? nil : deviceName)
            show(signIn, openBrowser: openBrowser)
            let signedIn = try await client.waitForToken(signIn) { event in
                switch event {
                case .pending: break
                case .slowDown(let interval):
                    context.printError("The server asked for slower polling: now every \(interval.seconds) s.")
                case .retrying(let next, let reason):
                    context.printError(
                        "No answer from the server (\(ServerText.singleLine(reason))); trying again in \(next.seconds) s."
                    )
                }
            }
            return await keep(
                signedIn,
                server: server,
                clientID: clientID,
                deviceName: deviceName,
                insecureHTTP: insecureHTTP,
                in: stores[0],
                replacing: before.found
            )
        } catch {
            return context.fail(ClientMessages.describe(error, server: server, clientID: clientID))
        }
    }

    /// The code is checked to be XXXX-XXXX and the pages to be on the server's own address; each
    /// still goes through `ServerText` before it reaches the terminal.
    private func show(_ signIn: DeviceSignIn, openBrowser: Bool) {
        let link = signIn.verificationURIComplete ?? signIn.verificationURI
        context.print(
            """
            To sign in, open this page in a browser:

                \(ServerText.singleLine(link.absoluteString, limit: 2_000))

            and check that it shows the code \(ServerText.singleLine(signIn.userCode))
            (or open \(ServerText.singleLine(signIn.verificationURI.absoluteString, limit: 2_000)) and type the code).
            """
        )
        context.print("")
        if openBrowser {
            context.print(
                context.openBrowser(link)
                    ? "Opened the page in your browser." : "Could not open a browser here: open the link yourself."
            )
        }
        context.print(
            "Waiting for your approval; the code expires in \(ClientMessages.duration(signIn.expiresIn)). "
                + "Press Ctrl-C to cancel."
        )
    }

    /// Stores the new sign-in, then signs the previous ones out, so no forgotten token stays valid.
    /// Every message says what really happened to each token.
    private func keep(
        _ signedIn: SignedIn,
        server: URL,
        clientID: String,
        deviceName: String,
        insecureHTTP: Bool,
        in store: any CredentialStore,
        replacing previous: [StoredSignIns.Found]
    ) async -> Int32 {
        let address = ServerText.singleLine(server.absoluteString)
        let client = context.client(server: server, clientID: clientID, insecureHTTP: insecureHTTP)
        do {
            try store.save(StoredCredentials(server: server, clientID: clientID, token: signedIn.token))
        } catch {
            let problem = "Signed in, but the token could not be stored (\(error.localizedDescription))"
            do {
                try await client.signOut(signedIn.token)
                return context.fail(problem + "; it has been revoked again, so no token is left valid.")
            } catch let revocation {
                let device = deviceName.isEmpty ? "this device" : "the device \"\(deviceName)\""
                return context.fail(
                    problem + ", and revoking it failed too ("
                        + ClientMessages.describe(revocation, server: server, clientID: clientID)
                        + "). It stays valid until it expires: revoke \(device) on \(address)/settings/devices."
                )
            }
        }
        context.print(
            "Signed in to \(address) as \(ClientMessages.person(signedIn.user)) "
                + "in \(ClientMessages.organization(signedIn.organization))."
        )
        context.print("The token is stored in \(store.location).")
        var revoked: [AccessToken] = []
        for old in previous where old.credentials.token != signedIn.token {
            let credentials = old.credentials
            let oldAddress = ServerText.singleLine(credentials.server.absoluteString)
            // The file left from another session (or the keyring) is removed once its token is dead.
            let replaced = old.store.location == store.location
            if !revoked.contains(credentials.token) {
                let oldClient = context.client(
                    server: credentials.server,
                    clientID: credentials.clientID,
                    insecureHTTP: insecureHTTP
                )
                do {
                    try await oldClient.signOut(credentials.token)
                    revoked.append(credentials.token)
                    context.print("The previous sign-in (on \(oldAddress)) is signed out.")
                } catch {
                    context.printError(
                        "warning: the previous sign-in on \(oldAddress) could not be revoked ("
                            + ClientMessages.describe(error, server: credentials.server, clientID: credentials.clientID)
                            + "); "
                            + (replaced
                                ? "it is no longer stored here: revoke it on \(oldAddress)/settings/devices."
                                : "it stays in \(old.store.location), so portal logout can try again.")
                    )
                    continue
                }
            }
            if !replaced {
                do {
                    try old.store.delete()
                } catch {
                    context.printError(
                        "warning: the previous sign-in is revoked, but could not be removed from "
                            + "\(old.store.location): \(error.localizedDescription)"
                    )
                }
            }
        }
        return ExitStatus.success
    }
}

extension Duration {
    /// Whole seconds, for messages.
    var seconds: Int64 { components.seconds }
}
