import DevicePortalClient
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal
@testable import portal

/// What a client command sees in a test: its own config folder (so the file store is used),
/// captured output, and a browser that only records what it was asked to open.
struct CommandWorld {
    let home: TemporaryFolder
    let output = Recorder<String>()
    let errors = Recorder<String>()
    let opened = Recorder<URL>()
    let clock: any PollingClock
    /// Whether a second store comes before the file, standing for a desktop's keyring; without
    /// it the world is a session without a keyring (over SSH).
    let hasKeyring: Bool

    init(clock: any PollingClock = SystemPollingClock(), keyring: Bool = false) throws {
        home = try TemporaryFolder()
        self.clock = clock
        self.hasKeyring = keyring
    }

    var credentialsFile: URL { home.url.appendingPathComponent("devportal/credentials.json") }
    var stdout: String { output.values.joined(separator: "\n") }
    var stderr: String { errors.values.joined(separator: "\n") }
    var store: FileCredentialStore { FileCredentialStore(fileURL: credentialsFile) }
    /// The keyring's stand-in (a file elsewhere), used only when `hasKeyring`.
    var keyring: FileCredentialStore { FileCredentialStore(fileURL: home.url.appendingPathComponent("keyring/item")) }

    var context: ClientContext {
        let (output, errors, opened) = (output, errors, opened)
        let stores: [any CredentialStore] = (hasKeyring ? [keyring] : []) + [store]
        return ClientContext(
            environment: ["XDG_CONFIG_HOME": home.path],
            print: { output.append($0) },
            printError: { errors.append($0) },
            credentialStores: { stores },
            openBrowser: {
                opened.append($0)
                return true
            },
            hostName: "ada-laptop",
            session: PortalClient.ephemeralSession,
            clock: clock
        )
    }

    /// `portal ARGUMENTS…`, as the entry point runs it.
    func run(_ arguments: [String]) async -> Int32? {
        await ClientCommands.run(["portal"] + arguments, context: context)
    }

    /// The user code that the `number`th `portal login` of this world printed.
    func userCode(number: Int = 1) async throws -> String {
        let pattern = /shows the code ([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})/
        try await eventually("the user code") { stdout.matches(of: pattern).count >= number }
        return String(stdout.matches(of: pattern)[number - 1].1)
    }
}

@Suite("Client commands: portal login, whoami, logout")
struct ClientCommandTests {
    @Test("login through the web forms stores the token privately, whoami names the user, logout kills it")
    func loginWhoamiLogout() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 1 }) { app, server in
            try await Fixtures(app: app).standardCast(role: "admin")
            let world = try CommandWorld()
            defer { world.home.remove() }
            let login = Task {
                await world.run(["login", "--server", server.absoluteString, "--client-id", "desktop", "--no-browser"])
            }
            let userCode = try await world.userCode()
            #expect(world.stdout.contains("\(server.absoluteString)/auth/device?user_code=\(userCode)"))
            let browser = Browser(app: app)
            try await browser.signIn()
            #expect(try await browser.approve(userCode).text.contains("ada-laptop"))

            #expect(await login.value == 0)  // MUT
            #expect(world.opened.values.isEmpty)
            #expect(
                world.stdout.contains("Signed in to \(server.absoluteString) as Ada <ada@example.com> in Acme (acme).")
            )
            let stored = try #require(try world.store.load())
            #expect(stored.server == server)
            #expect(stored.clientID == "desktop")
            #expect(try posixMode(world.credentialsFile.path) == 0o600)
            #expect(try posixMode(world.credentialsFile.deletingLastPathComponent().path) == 0o700)
            let token = stored.token.value
            #expect(!world.stdout.contains(token) && !world.stderr.contains(token))
            #expect(try await DesktopApp(app: app).me(token).status == .ok)

            #expect(await world.run(["whoami"]) == 0)
            #expect(world.stdout.contains("as Ada <ada@example.com> in Acme (acme), role admin."))

            #expect(await world.run(["logout"]) == 0)
            #expect(world.stdout.contains("Signed out of \(server.absoluteString)"))
            #expect(try world.store.load() == nil)
            #expect(try await DesktopApp(app: app).me(token).status == .unauthorized)
            #expect(!world.stdout.contains(token) && !world.stderr.contains(token))

            #expect(await world.run(["whoami"]) == 1)
            #expect(world.stderr.contains("Not signed in"))
            #expect(await world.run(["logout"]) == 0)
        }
    }

    @Test("the approval page shows portal/<version> (<system>) as the software that asks to sign in")
    func approvalPageNamesPortal() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 1 }) { app, server in
            try await Fixtures(app: app).standardCast()
            let world = try CommandWorld()
            defer { world.home.remove() }
            let login = Task {
                await world.run(["login", "--server", server.absoluteString, "--client-id", "desktop", "--no-browser"])
            }
            let userCode = try await world.userCode()
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.get("/auth/device")

            let confirm = try await browser.post("/auth/device", [("user_code", userCode)])  // MUT

            let software = ClientUserAgentTests.expected("portal/\(PortalClient.version)")
            #expect(confirm.text.contains(#"<dd class="ua">\#(software)</dd>"#), "\(confirm.text)")
            try await browser.post(
                "/auth/device/confirm",
                [("user_code", userCode), ("org", "acme"), ("action", "approve")]
            )
            #expect(await login.value == 0)
        }
    }

    @Test("login, whoami and logout name portal/<version> (<system>) on every request; login's polls ask to wait")
    func commandsUserAgent() async throws {
        let clock = VirtualClock()
        try await withFakeServer(clock: clock, script: { poll, _ in poll < 2 ? .pending : .approved }) { server in
            let world = try CommandWorld(clock: clock)
            defer { world.home.remove() }

            let login = await world.run(["login", "--server", server.url.absoluteString, "--client-id", "d"])  // MUT
            let whoami = await world.run(["whoami"])  // MUT
            let logout = await world.run(["logout"])  // MUT

            #expect([login, whoami, logout] == [0, 0, 0], "\(world.stderr)")
            #expect(Set(server.requests.map(\.path)).count == 5)
            let software = ClientUserAgentTests.expected("portal/\(PortalClient.version)")
            #expect(server.requests.allSatisfy { $0.userAgent == software }, "\(server.requests)")
            #expect(server.pollRequests.map(\.prefer) == ["wait=25", "wait=25"])
        }
    }

    @Test("login opens the page with the code filled in; a denial exits 1 and stores nothing")
    func deniedWithBrowser() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 1 }) { app, server in
            try await Fixtures(app: app).standardCast()
            let world = try CommandWorld()
            defer { world.home.remove() }
            let login = Task {
                await world.run(["login", "--server", server.absoluteString, "--client-id", "desktop"])
            }
            let userCode = try await world.userCode()
            #expect(
                world.opened.values.map(\.absoluteString) == [
                    "\(server.absoluteString)/auth/device?user_code=\(userCode)"
                ]
            )
            let browser = Browser(app: app)
            try await browser.signIn()
            try await browser.approve(userCode, action: "deny")

            #expect(await login.value == 1)  // MUT
            #expect(world.stderr.contains("error: The sign-in was denied in the browser. Nothing was stored."))
            #expect(!FileManager.default.fileExists(atPath: world.credentialsFile.path))
        }
    }

    @Test("a second login signs the first token out")
    func secondLoginRevokesFirst() async throws {
        try await withRunningPortal({ $0.devicePollInterval = 1 }) { app, server in
            try await Fixtures(app: app).standardCast()
            let world = try CommandWorld()
            defer { world.home.remove() }
            var tokens: [String] = []
            for number in 1...2 {
                let login = Task {
                    await world.run([
                        "login", "--server", server.absoluteString, "--client-id", "desktop", "--no-browser",
                    ])
                }
                let userCode = try await world.userCode(number: number)
                let browser = Browser(app: app)
                try await browser.signIn()
                try await browser.approve(userCode)
                #expect(await login.value == 0)  // MUT
                tokens.append(try #require(try world.store.load()).token.value)
            }
            #expect(world.stdout.contains("The previous sign-in (on \(server.absoluteString)) is signed out."))
            #expect(try await DesktopApp(app: app).me(tokens[0]).status == .unauthorized)
            #expect(try await DesktopApp(app: app).me(tokens[1]).status == .ok)
        }
    }

    @Test("an unknown client id, an unreachable server: exit 1 with a message that says what to do")
    func loginErrors() async throws {
        try await withRunningPortal { app, server in
            let world = try CommandWorld()
            defer { world.home.remove() }
            #expect(await world.run(["login", "--server", server.absoluteString, "--client-id", "nobody"]) == 1)
            #expect(world.stderr.contains("does not know the client id \"nobody\""))
            #expect(world.stderr.contains("portal create-client"))

            let dead = "http://127.0.0.1:\(try deadPort())"
            #expect(await world.run(["login", "--server", dead, "--client-id", "desktop"]) == 1)  // MUT
            #expect(world.stderr.contains("error: Cannot reach \(dead):"))
            #expect(!FileManager.default.fileExists(atPath: world.credentialsFile.path))
        }
    }

    @Test("bad arguments exit 2 with the usage; --help exits 0")
    func usage() async throws {
        let world = try CommandWorld()
        defer { world.home.remove() }
        for arguments in [
            ["login", "--client-id", "desktop"], ["login", "--server", "https://p.example.com"],
            ["login", "--server", "ftp://p.example.com", "--client-id", "d"],
            ["login", "--server", "https://p.example.com", "--client-id", "d", "--colour"],
            ["login", "--server"], ["whoami", "extra"], ["logout", "--server", "x"],
        ] {
            #expect(await world.run(arguments) == 2, "\(arguments)")  // MUT
        }
        #expect(world.stderr.contains("error: missing --server URL"))
        #expect(world.stderr.contains("error: missing --client-id ID"))
        #expect(world.stderr.contains("--server must be an http:// or https:// URL"))
        #expect(world.stderr.contains("error: unknown option --colour"))
        #expect(world.stderr.contains("Usage: portal login --server URL --client-id ID"))
        #expect(await world.run(["login", "--help"]) == 0)
        #expect(await world.run(["serve"]) == nil)
        #expect(await world.run([]) == nil)
    }

    @Test("whoami with a revoked token, logout without the server: exit 1; logout keeps what it could not revoke")
    func storedTokenProblems() async throws {
        try await withRunningPortal { app, server in
            let (user, organization, client) = try await Fixtures(app: app).standardCast()
            let token = try await Fixtures(app: app).token(for: user, in: organization, client: client)
            let world = try CommandWorld()
            defer { world.home.remove() }
            try world.store.save(StoredCredentials(server: server, clientID: "desktop", token: AccessToken(token)))
            try await runCommand(app, "revoke-tokens", ["--email", "ada@example.com"])

            #expect(await world.run(["whoami"]) == 1)  // MUT
            #expect(world.stderr.contains("is no longer valid"))

            let dead = try #require(URL(string: "http://127.0.0.1:\(try deadPort())"))
            try world.store.save(StoredCredentials(server: dead, clientID: "desktop", token: AccessToken(token)))
            #expect(await world.run(["logout"]) == 1)  // MUT
            #expect(world.stderr.contains("The token is still stored in \(world.credentialsFile.path)"))
            #expect(try world.store.load() != nil)
        }
    }
}
