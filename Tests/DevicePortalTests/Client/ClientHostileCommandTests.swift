import DevicePortalClient
import Foundation
import Testing
import VaporTesting

@testable import portal

/// `portal login`, `whoami` and `logout` against a hostile server, in this process on a
/// virtual clock: what they print, what they keep, and whom they talk to.
@Suite("Client commands: a hostile server", .serialized)
struct ClientHostileCommandTests {
    static let token = AccessToken(String(repeating: "c0", count: 32))
    static let quoted = FakeTokenServer.quoted

    /// Every name and role name of a `/me` or token answer set to `hostileText`.
    static let hostilePeople: [String: String] = [
        "user": #"{"id": "u1", "email": \#(quoted(hostileText)), "name": \#(quoted(hostileText))}"#,
        "organization": #"{"id": "o1", "slug": \#(quoted(hostileText)), "name": \#(quoted(hostileText))}"#,
        "role": #"{"name": \#(quoted(hostileText)), "permissions": []}"#,
    ]

    /// No line may start as the fake success line hidden after a line break in `hostileText`.
    func expectNoFakeLine(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = text.split(separator: "\n")
        #expect(
            !lines.contains { $0.hasPrefix("Signed in to https://portal.example.com") },
            sourceLocation: sourceLocation
        )
    }

    @Test("whoami shows hostile names and role names on one clean line each")
    func whoamiNames() async throws {
        try await withFakeServer(.init(fields: [.me: Self.hostilePeople]), clock: VirtualClock()) { server in
            let world = try CommandWorld()
            defer { world.home.remove() }
            try world.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            #expect(await world.run(["whoami"]) == 0)  // MUT

            expectTerminalSafe(world.stdout, "stdout")
            expectTerminalSafe(world.stderr, "stderr")
            expectNoFakeLine(world.stdout)
            #expect(world.output.values.count == 2)
            #expect(world.stdout.contains("as Mallory[2J[H]0;pwned]52;c;cm0gLXJmIH4=31m  Signed in to"))
            #expect(world.stdout.contains("role Mallory"))
        }
    }

    @Test("login shows hostile names on clean lines and stores the token")
    func loginNames() async throws {
        let settings = FakeTokenServer.Settings(interval: 1, fields: [.token: Self.hostilePeople])
        try await withFakeServer(settings, clock: VirtualClock(), script: { _, _ in .approved }) {
            server in
            let world = try CommandWorld(clock: VirtualClock())
            defer { world.home.remove() }

            #expect(
                await world.run(["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"])
                    == 0
            )  // MUT

            expectTerminalSafe(world.stdout, "stdout")
            expectTerminalSafe(world.stderr, "stderr")
            expectNoFakeLine(world.stdout)
            #expect(world.stdout.contains("Signed in to \(server.url.absoluteString) as Mallory"))
            #expect(try world.store.load()?.token.value == FakeTokenServer.approvedToken)
        }
    }

    /// Hostile text in each place login prints from: an error description at the start, one
    /// while polling, a user code, a page that is not JSON, a redirect's Location.
    static let loginFailures: [(String, FakeTokenServer.Settings, FakeTokenServer.Answer)] = [
        (
            "error_description at the start",
            .init(replies: [
                .deviceCode: .json(
                    #"{"error": "invalid_request", "error_description": \#(quoted(hostileText))}"#,
                    status: .badRequest
                )
            ]), .approved
        ),
        (
            "error and error_description while polling", .init(interval: 1),
            .reply(
                .json(
                    #"{"error": \#(quoted(hostileText)), "error_description": \#(quoted(hostileText))}"#,
                    status: .badRequest
                )
            )
        ),
        ("user_code", .init(fields: [.deviceCode: ["user_code": quoted(hostileText)]]), .approved),
        ("a page that is not JSON", .init(replies: [.metadata: .page(hostileText)]), .approved),
        ("a 500 page", .init(replies: [.deviceCode: .page(hostileText, status: .internalServerError)]), .approved),
        (
            "a redirect's Location",
            .init(replies: [.deviceCode: .redirect(.found, to: "http://x.example/\u{1B}[2J\u{9B}\u{202E}")]), .approved
        ),
        ("a token answer that is not JSON", .init(interval: 1), .reply(.page(hostileText))),
    ]

    @Test("login fails clean whatever hostile text the server sends, and stores nothing", arguments: 0..<7)
    func loginFailures(index: Int) async throws {
        let (what, settings, answer) = Self.loginFailures[index]
        try await withFakeServer(settings, clock: VirtualClock(), script: { _, _ in answer }) { server in
            let world = try CommandWorld(clock: VirtualClock())
            defer { world.home.remove() }

            let status = await world.run([
                "login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser",
            ])  // MUT

            #expect(status == 1, "\(what)")
            expectTerminalSafe(world.stdout, "stdout, \(what)")
            expectTerminalSafe(world.stderr, "stderr, \(what)")
            expectNoFakeLine(world.stdout + "\n" + world.stderr)
            #expect(world.stderr.hasPrefix("error: "), "\(what)")
            #expect(try world.store.load() == nil, "\(what)")
        }
    }

    /// Every string field of every answer, each in turn set to `hostileText` (inside a URL for
    /// the URL fields), with the command that prints from it.
    static let everyField: [(FakeTokenServer.Route, String, String, String)] = {
        let hostile = quoted(hostileText)
        func url(_ path: String) -> String { quoted("{origin}" + path + hostileText) }
        return [
            (.metadata, "issuer", quoted("{origin}" + hostileText), "login"),
            (.metadata, "issuer", quoted("{origin}" + hostileText), "logout"),
            (.metadata, "device_authorization_endpoint", url("/auth/device/code"), "login"),
            (.metadata, "token_endpoint", url("/auth/device/token"), "login"),
            (.metadata, "revocation_endpoint", url("/auth/token/revoke"), "logout"),
            (.metadata, "grant_types_supported", "[\(hostile)]", "login"),
            (.deviceCode, "device_code", hostile, "login"),
            (.deviceCode, "user_code", hostile, "login"),
            (.deviceCode, "verification_uri", url("/auth/device"), "login"),
            (.deviceCode, "verification_uri_complete", url("/auth/device?user_code="), "login"),
            (.token, "access_token", hostile, "login"),
            (.token, "token_type", hostile, "login"),
            (.token, "user", #"{"id": \#(hostile), "email": \#(hostile), "name": \#(hostile)}"#, "login"),
            (.token, "organization", #"{"id": \#(hostile), "slug": \#(hostile), "name": \#(hostile)}"#, "login"),
            (.me, "user", #"{"id": \#(hostile), "email": \#(hostile), "name": \#(hostile)}"#, "whoami"),
            (.me, "organization", #"{"id": \#(hostile), "slug": \#(hostile), "name": \#(hostile)}"#, "whoami"),
            (.me, "role", #"{"name": \#(hostile), "permissions": [\#(hostile)]}"#, "whoami"),
            (.me, "auth", #"{"type": \#(hostile), "expires_at": \#(hostile)}"#, "whoami"),
        ]
    }()

    @Test("escape sequences in any string field of any answer never reach the terminal", arguments: 0..<18)
    func everyStringField(index: Int) async throws {
        let (route, field, raw, command) = Self.everyField[index]
        let settings = FakeTokenServer.Settings(interval: 1, fields: [route: [field: raw]])
        try await withFakeServer(settings, clock: VirtualClock(), script: { _, _ in .approved }) { server in
            let world = try CommandWorld(clock: VirtualClock())
            defer { world.home.remove() }
            if command != "login" {
                try world.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))
            }
            let arguments =
                command == "login"
                ? ["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"] : [command]

            _ = await world.run(arguments)  // MUT

            expectTerminalSafe(world.stdout, "stdout, \(route) \(field)")
            expectTerminalSafe(world.stderr, "stderr, \(route) \(field)")
            expectNoFakeLine(world.stdout + "\n" + world.stderr)
            #expect(!world.stdout.isEmpty || !world.stderr.isEmpty)
        }
    }

    @Test("logout counts only the revocation endpoint's own 200: a redirect or an error keeps the token")
    func logoutRevocation() async throws {
        for (reply, revoked) in [
            (FakeTokenServer.Reply.redirect(.temporaryRedirect, to: "{witness}"), false),
            (.redirect(.found, to: "{witness}"), false), (.page("oops", status: .internalServerError), false),
            (.json("{}"), true),
        ] {
            try await withHostileServer({ witness in
                var reply = reply
                reply.headers["Location"] = reply.headers["Location"].map { _ in witness.absoluteString + "/revoke" }
                return .init(replies: [.revoke: reply])
            }) { server, witness in
                let world = try CommandWorld()
                defer { world.home.remove() }
                let stored = StoredCredentials(server: server.url, clientID: "desktop", token: Self.token)
                try world.store.save(stored)

                let status = await world.run(["logout"])  // MUT

                #expect(witness.requests.isEmpty)
                #expect(server.revoked == [Self.token.value])
                if revoked {
                    #expect(status == 0)
                    #expect(world.stdout.contains("Signed out of \(server.url.absoluteString)"))
                    #expect(try world.store.load() == nil)
                } else {
                    #expect(status == 1, "\(reply.status)")
                    #expect(!world.stdout.contains("Signed out"))
                    #expect(world.stderr.contains("The token is still stored in \(world.credentialsFile.path)"))
                    #expect(try world.store.load() == stored)
                    if reply.status != .internalServerError {
                        #expect(world.stderr.contains("a redirect to \(witness.url.absoluteString)/revoke"))
                    }
                }
            }
        }
    }

    @Test("whoami with /me redirected to another origin fails; the other origin never sees the token")
    func whoamiRedirected() async throws {
        try await withHostileServer({ witness in
            .init(replies: [.me: .redirect(.found, to: witness.absoluteString + "/me")])
        }) { server, witness in
            let world = try CommandWorld()
            defer { world.home.remove() }
            try world.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            #expect(await world.run(["whoami"]) == 1)  // MUT

            #expect(witness.requests.isEmpty)
            #expect(world.stderr.contains("HTTP 302, a redirect to \(witness.url.absoluteString)/me"))
            #expect(!world.stdout.contains("Signed in"))
        }
    }

    @Test("plain http to another machine is refused by login, whoami and logout unless --insecure-http is given")
    func plainHTTP() async throws {
        try await withFakeServer(.init(interval: 1), clock: VirtualClock(), script: { _, _ in .approved }) { server in
            // 0.0.0.0 reaches this machine's listeners, but it is no loopback address.
            let remote = "http://0.0.0.0:\(server.port)"
            let world = try CommandWorld(clock: VirtualClock())
            defer { world.home.remove() }
            for server in [remote, "http://127.attacker.example", "http://127.0.0.1.nip.io:8080"] {
                #expect(await world.run(["login", "--server", server, "--client-id", "desktop"]) == 1)  // MUT
                #expect(world.stderr.contains("error: \(server) is plain http to another machine"))
            }
            #expect(world.stderr.contains("add --insecure-http"))
            let stored = StoredCredentials(server: URL(string: remote)!, clientID: "desktop", token: Self.token)
            try world.store.save(stored)
            #expect(await world.run(["whoami"]) == 1)  // MUT
            #expect(await world.run(["logout"]) == 1)  // MUT
            #expect(try world.store.load() == stored)
            #expect(server.requests.isEmpty)
            #expect(world.opened.values.isEmpty)

            #expect(await world.run(["whoami", "--insecure-http"]) == 0)  // MUT
            #expect(world.stdout.contains("Signed in to \(remote) as Ada"))
            #expect(await world.run(["logout", "--insecure-http"]) == 0)  // MUT
            #expect(server.revoked == [Self.token.value])
            #expect(
                await world.run([
                    "login", "--server", remote, "--client-id", "desktop", "--no-browser", "--insecure-http",
                ])
                    == 0
            )  // MUT
            #expect(try world.store.load()?.server.absoluteString == remote)
            let warnings = world.errors.values.filter { $0.hasPrefix("warning: \(remote) is plain http") }
            #expect(warnings.count == 3)
        }
    }

    @Test("login says truthfully that the previous token could not be revoked")
    func previousNotRevoked() async throws {
        try await withFakeServer(.init(replies: [.revoke: .page("down", status: .badGateway)]), clock: VirtualClock()) {
            old in
            try await withFakeServer(.init(interval: 1), clock: VirtualClock(), script: { _, _ in .approved }) { new in
                let world = try CommandWorld(clock: VirtualClock())
                defer { world.home.remove() }
                try world.store.save(StoredCredentials(server: old.url, clientID: "desktop", token: Self.token))

                #expect(
                    await world.run(["login", "--server", new.url.absoluteString, "--client-id", "d", "--no-browser"])
                        == 0
                )  // MUT

                #expect(old.revoked == [Self.token.value])
                #expect(!world.stdout.contains("is signed out"))
                #expect(
                    world.stderr.contains(
                        "warning: the previous sign-in on \(old.url.absoluteString) could not be revoked"
                    )
                )
                #expect(world.stderr.contains("revoke it on \(old.url.absoluteString)/settings/devices"))
                #expect(try world.store.load()?.server == new.url)
            }
        }
    }

    @Test("a token that cannot be stored is revoked again, and login says so only when that worked")
    func cannotStore() async throws {
        for revocation in [FakeTokenServer.Reply.json("{}"), .page("down", status: .serviceUnavailable)] {
            let settings = FakeTokenServer.Settings(interval: 1, replies: [.revoke: revocation])
            try await withFakeServer(settings, clock: VirtualClock(), script: { _, _ in .approved }) { server in
                let world = try CommandWorld(clock: VirtualClock())
                defer { world.home.remove() }
                // The credentials' folder is a file: nothing can be stored.
                _ = FileManager.default.createFile(atPath: world.home.path + "/devportal", contents: Data())

                let status = await world.run([
                    "login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser",
                ])  // MUT

                #expect(status == 1)
                #expect(server.revoked == [FakeTokenServer.approvedToken])
                #expect(world.stderr.contains("Signed in, but the token could not be stored"))
                if revocation.status == .ok {
                    #expect(world.stderr.contains("it has been revoked again"))
                } else {
                    #expect(!world.stderr.contains("revoked again"))
                    #expect(world.stderr.contains("and revoking it failed too"))
                    #expect(
                        world.stderr.contains(
                            "revoke the device \"ada-laptop\" on \(server.url.absoluteString)/settings/devices"
                        )
                    )
                }
            }
        }
    }

    @Test("unreadable stored credentials are reported before login replaces them, never silently overwritten")
    func unreadablePrevious() async throws {
        try await withFakeServer(.init(interval: 1), clock: VirtualClock(), script: { _, _ in .approved }) { server in
            let world = try CommandWorld(clock: VirtualClock())
            defer { world.home.remove() }
            try FileManager.default.createDirectory(
                at: world.credentialsFile.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            _ = FileManager.default.createFile(atPath: world.credentialsFile.path, contents: Data("not json".utf8))

            #expect(
                await world.run(["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"])
                    == 0
            )  // MUT

            let warning = try #require(world.errors.values.first)
            #expect(warning.hasPrefix("warning: the sign-in stored in \(world.credentialsFile.path) cannot be read"))
            #expect(warning.contains("this sign-in will replace it"))
            #expect(warning.contains("/settings/devices"))
            // Said before the code was shown, so the person can stop first.
            #expect(world.output.values.first?.hasPrefix("To sign in") == true)
            #expect(try world.store.load()?.token.value == FakeTokenServer.approvedToken)
        }
    }

    @Test("a sign-in stored in the file (over SSH) is found by whoami and logout in a session with a keyring")
    func fileSignInFromDesktop() async throws {
        try await withFakeServer(clock: VirtualClock()) { server in
            let world = try CommandWorld(keyring: true)
            defer { world.home.remove() }
            try world.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            #expect(await world.run(["whoami"]) == 0)  // MUT
            #expect(world.stdout.contains("Signed in to \(server.url.absoluteString) as Ada"))
            #expect(await world.run(["logout"]) == 0)  // MUT

            #expect(server.revoked == [Self.token.value])
            #expect(try world.store.load() == nil)
            #expect(await world.run(["whoami"]) == 1)
            #expect(
                world.stderr.contains("Not signed in (looked in \(world.keyring.location) and \(world.store.location))")
            )
        }
    }

    @Test("a login from a session with a keyring revokes and removes the sign-in left in the file")
    func desktopLoginReplacesFileSignIn() async throws {
        try await withFakeServer(.init(interval: 1), clock: VirtualClock(), script: { _, _ in .approved }) { server in
            let world = try CommandWorld(clock: VirtualClock(), keyring: true)
            defer { world.home.remove() }
            try world.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            #expect(
                await world.run(["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"])
                    == 0
            )  // MUT

            #expect(server.revoked == [Self.token.value])
            #expect(world.stdout.contains("The token is stored in \(world.keyring.location)."))
            #expect(world.stdout.contains("The previous sign-in (on \(server.url.absoluteString)) is signed out."))
            #expect(try world.keyring.load()?.token.value == FakeTokenServer.approvedToken)
            #expect(try world.store.load() == nil)
        }
    }
}
