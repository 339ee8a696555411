import DevicePortalClient
import Foundation
import NIOConcurrencyHelpers
import Testing
import VaporTesting

/// The `portal` executable itself, run as a person runs it, against a hostile server: the bytes
/// it writes to its standard output and error, its exit status, and whether it survives at all.
/// Each run ends before the first poll (which waits a real interval), so none takes long. One
/// child at a time, and generous waits: on a loaded machine a debug binary can be slow to start.
@Suite("Client commands as processes: a hostile server", .serialized)
struct ClientProcessTests {
    static let token = AccessToken(String(repeating: "c0", count: 32))

    @Test("whoami writes hostile names and role names without a single control byte")
    func whoamiNames() async throws {
        try await withFakeServer(.init(fields: [.me: ClientHostileCommandTests.hostilePeople]), clock: VirtualClock()) {
            server in
            let home = try TemporaryFolder()
            defer { home.remove() }
            try home.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            let run = try await PortalProcess.run(["whoami"], home: home)  // MUT

            #expect(run.exited(0), "\(run)")
            expectTerminalSafe(run.stdout, "stdout")
            expectTerminalSafe(run.stderr, "stderr")
            let lines = String(decoding: run.stdout, as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 2)
            #expect(lines.first?.hasPrefix("Signed in to \(server.url.absoluteString) as Mallory") == true)
            #expect(lines.first?.contains("role Mallory") == true)
        }
    }

    @Test("the executable names itself portal/<version> (<system>) to the server")
    func userAgent() async throws {
        try await withFakeServer(clock: VirtualClock()) { server in
            let home = try TemporaryFolder()
            defer { home.remove() }
            try home.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            let run = try await PortalProcess.run(["whoami"], home: home)  // MUT

            #expect(run.exited(0), "\(run)")
            #expect(
                server.requests.map(\.userAgent) == [ClientUserAgentTests.expected("portal/\(PortalClient.version)")]
            )
        }
    }

    @Test("login fails clean on hostile text before the first poll", arguments: [0, 2, 3, 4, 5])
    func loginFailures(index: Int) async throws {
        let (what, settings, _) = ClientHostileCommandTests.loginFailures[index]
        try await withFakeServer(settings, clock: VirtualClock()) { server in
            let home = try TemporaryFolder()
            defer { home.remove() }

            let login = ["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"]
            let run = try await PortalProcess.run(login, home: home)  // MUT

            #expect(run.exited(1), "\(what): \(run)")
            expectTerminalSafe(run.stdout, "stdout, \(what)")
            expectTerminalSafe(run.stderr, "stderr, \(what)")
            #expect(String(decoding: run.stderr, as: UTF8.self).hasPrefix("error: "), "\(what)")
            #expect(try home.store.load() == nil)
        }
    }

    @Test(
        "escape sequences in any string field that login, whoami or logout print before a poll: no control byte",
        arguments: ClientHostileCommandTests.everyField.indices.filter {
            ClientHostileCommandTests.everyField[$0].0 != .token
        }
    )
    func everyStringField(index: Int) async throws {
        let (route, field, raw, command) = ClientHostileCommandTests.everyField[index]
        try await withFakeServer(.init(fields: [route: [field: raw]]), clock: VirtualClock()) { server in
            let home = try TemporaryFolder()
            defer { home.remove() }
            if command != "login" {
                try home.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))
            }
            let arguments =
                command == "login"
                ? ["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"] : [command]
            let process = try PortalProcess(arguments, home: home)  // MUT
            // A login that got as far as waiting has printed all it prints before the first poll.
            try await eventually(timeout: .seconds(30), "the output") {
                process.stdoutText.contains("Press Ctrl-C to cancel.") || !process.isRunning
            }
            process.terminate()
            let run = try await process.wait()

            #expect(run.reason == .exit || run.status == SIGTERM, "\(route) \(field): \(run)")
            expectTerminalSafe(run.stdout, "stdout, \(route) \(field)")
            expectTerminalSafe(run.stderr, "stderr, \(route) \(field)")
        }
    }

    @Test(
        "a hostile interval or expires_in neither crashes login nor makes it poll early",
        arguments: [
            ("9223372036854775807", "900", "15 minutes"), ("4611686018427387904", "900", "15 minutes"),
            ("9223372036854775807", "9223372036854775807", "1440 minutes"),
            ("60", "4611686018427387904", "1440 minutes"),
        ]
    )
    func hostileTimes(interval: String, expiresIn: String, shown: String) async throws {
        let settings = FakeTokenServer.Settings(fields: [.deviceCode: ["interval": interval, "expires_in": expiresIn]])
        try await withFakeServer(settings, clock: SystemPollingClock(), script: { _, _ in .approved }) { server in
            let home = try TemporaryFolder()
            defer { home.remove() }
            let login = try PortalProcess(
                ["login", "--server", server.url.absoluteString, "--client-id", "d", "--no-browser"],
                home: home
            )

            try await eventually(timeout: .seconds(30), "the wait") {
                login.stdoutText.contains("Press Ctrl-C to cancel.") || !login.isRunning
            }
            try await Task.sleep(for: .milliseconds(300))  // MUT: the sleep that used to trap

            #expect(login.isRunning, "\(login.finished)")
            #expect(login.stdoutText.contains("the code expires in \(shown)"))
            #expect(server.polls.isEmpty)
            login.terminate()
            let run = try await login.wait()
            #expect(run.reason == .uncaughtSignal && run.status == SIGTERM, "\(run)")
            expectTerminalSafe(run.stdout, "stdout")
            expectTerminalSafe(run.stderr, "stderr")
        }
    }

    @Test("logout with a revocation redirected elsewhere exits 1, keeps the token, and the other origin hears nothing")
    func logoutRedirected() async throws {
        try await withHostileServer({ witness in
            .init(replies: [.revoke: .redirect(.temporaryRedirect, to: witness.absoluteString + "/revoke")])
        }) { server, witness in
            let home = try TemporaryFolder()
            defer { home.remove() }
            let stored = StoredCredentials(server: server.url, clientID: "desktop", token: Self.token)
            try home.store.save(stored)

            let run = try await PortalProcess.run(["logout"], home: home)  // MUT

            #expect(run.exited(1), "\(run)")
            #expect(witness.requests.isEmpty)
            #expect(try home.store.load() == stored)
            #expect(!String(decoding: run.stdout, as: UTF8.self).contains("Signed out"))
            #expect(
                String(decoding: run.stderr, as: UTF8.self).contains(
                    "a redirect to \(witness.url.absoluteString)/revoke"
                )
            )
        }
    }

    @Test("whoami with /me redirected elsewhere exits 1; the other origin never sees the token")
    func whoamiRedirected() async throws {
        try await withHostileServer({ witness in
            .init(replies: [.me: .redirect(.found, to: witness.absoluteString + "/me")])
        }) { server, witness in
            let home = try TemporaryFolder()
            defer { home.remove() }
            try home.store.save(StoredCredentials(server: server.url, clientID: "desktop", token: Self.token))

            let run = try await PortalProcess.run(["whoami"], home: home)  // MUT

            #expect(run.exited(1), "\(run)")
            #expect(witness.requests.isEmpty)
            #expect(server.requests.map(\.path) == ["/me"])
        }
    }

    @Test("plain http to another machine: every command refuses without --insecure-http and sends nothing")
    func plainHTTP() async throws {
        try await withFakeServer(clock: VirtualClock()) { server in
            let home = try TemporaryFolder()
            defer { home.remove() }
            let remote = "http://0.0.0.0:\(server.port)"
            let arguments = ["login", "--server", remote, "--client-id", "d"]
            let login = try await PortalProcess.run(arguments, home: home)  // MUT
            try home.store.save(StoredCredentials(server: URL(string: remote)!, clientID: "d", token: Self.token))
            let whoami = try await PortalProcess.run(["whoami"], home: home)  // MUT
            let logout = try await PortalProcess.run(["logout"], home: home)  // MUT

            for run in [login, whoami, logout] {
                #expect(run.exited(1), "\(run)")
                #expect(String(decoding: run.stderr, as: UTF8.self).contains("add --insecure-http"))
            }
            #expect(server.requests.isEmpty)
            #expect(try home.store.load() != nil)
            let allowed = try await PortalProcess.run(["whoami", "--insecure-http"], home: home)
            #expect(allowed.exited(0), "\(allowed)")
            #expect(String(decoding: allowed.stderr, as: UTF8.self).hasPrefix("warning: \(remote) is plain http"))
        }
    }
}

extension TemporaryFolder {
    /// The file store that `portal` uses with this folder as `XDG_CONFIG_HOME` and no session bus.
    var store: FileCredentialStore {
        FileCredentialStore(fileURL: url.appendingPathComponent("devportal/credentials.json"))
    }
}

/// The `portal` executable, run with a home of the test's own: no session bus (so the file
/// store), no display (so no browser), and its output read as it comes.
final class PortalProcess: Sendable {
    struct Finished: CustomStringConvertible {
        let status: Int32
        let reason: ChildProcess.Reason
        let stdout: Data
        let stderr: Data

        func exited(_ expected: Int32) -> Bool { reason == .exit && status == expected }

        var description: String {
            "status \(status) (\(reason == .exit ? "exit" : "signal")), stdout "
                + "\(String(decoding: stdout, as: UTF8.self).debugDescription), stderr "
                + String(decoding: stderr, as: UTF8.self).debugDescription
        }
    }

    private let child: ChildProcess

    init(_ arguments: [String], home: TemporaryFolder) throws {
        // No backtracer: a trap ends the process at once, as SIGILL, instead of seconds later.
        child = try ChildProcess(
            try Self.executable().path,
            arguments,
            environment: [
                "HOME": home.path, "XDG_CONFIG_HOME": home.path, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                "SWIFT_BACKTRACE": "enable=no",
            ]
        )
    }

    /// Runs `portal ARGUMENTS…` to its end.
    static func run(_ arguments: [String], home: TemporaryFolder) async throws -> Finished {
        try await PortalProcess(arguments, home: home).wait()
    }

    var isRunning: Bool { child.isRunning }
    var stdoutText: String { String(decoding: child.snapshot.stdout, as: UTF8.self) }
    var finished: String { isRunning ? "running" : "\(stdoutText.debugDescription)" }

    /// Sends SIGTERM to this child while it runs (never to a process id that may have been reused).
    func terminate() {
        child.terminate()
    }

    /// Waits (for real) for the process to end and its output to be read, 30 s at most.
    func wait() async throws -> Finished {
        do {
            try await eventually(timeout: .seconds(30), "portal to exit") {
                !child.isRunning && child.snapshot.open == 0
            }
        } catch {
            child.terminate()
            throw error
        }
        let output = child.snapshot
        guard let ended = output.ended else { throw TestFailure("portal was not reaped") }
        return Finished(status: ended.status, reason: ended.reason, stdout: output.stdout, stderr: output.stderr)
    }

    /// The `portal` built beside the tests (`swift build --build-tests` builds both).
    static func executable() throws -> URL {
        var folders = Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map {
            $0.bundleURL.deletingLastPathComponent()
        }
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        folders.append(URL(fileURLWithPath: packageRoot + ".build/debug"))
        let candidates = folders.map { $0.appendingPathComponent("portal") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw TestFailure("no portal executable in \(candidates.map(\.path)): run swift build --build-tests")
        }
        return found
    }
}
