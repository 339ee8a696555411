import DevicePortalClient
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `portal login`, `portal whoami` and `portal logout`: the desktop side of the flow. They run
/// before the server's set-up, so they touch no database and create no `portal.secret`.
enum ClientCommands {
    enum Name: String, CaseIterable {
        case login, whoami, logout
    }

    /// What every request of these commands names as its software, such as `portal/1.0.0 (Linux)`:
    /// the approval page shows it to the person.
    static let userAgent = PortalClient.userAgent(product: "portal/\(PortalClient.version)")

    /// The exit status of the client command named in `arguments` (`portal NAME …`), or `nil`
    /// when they name none, so the server's commands run.
    static func run(_ arguments: [String], context: ClientContext) async -> Int32? {
        guard arguments.count >= 2, let name = Name(rawValue: arguments[1]) else { return nil }
        let rest = Array(arguments.dropFirst(2))
        switch name {
        case .login: return await LoginCommand(context: context).run(rest)
        case .whoami: return await WhoamiCommand(context: context).run(rest)
        case .logout: return await LogoutCommand(context: context).run(rest)
        }
    }
}

/// What the client commands use of the world, so tests can give them their own.
struct ClientContext: Sendable {
    var environment: [String: String]
    /// Standard output: what the person asked for.
    var print: @Sendable (String) -> Void
    /// Standard error: progress notes, warnings and errors.
    var printError: @Sendable (String) -> Void
    /// Where sign-ins may be kept, the one `login` saves to first; every command looks in all of them.
    var credentialStores: @Sendable () throws -> [any CredentialStore]
    var openBrowser: @Sendable (URL) -> Bool
    var hostName: String
    var session: URLSession
    var clock: any PollingClock

    static func live() -> ClientContext {
        let environment = ProcessInfo.processInfo.environment
        return ClientContext(
            environment: environment,
            // Written at once, unbuffered: a script reading the code from a pipe sees it before the wait.
            // Each field from a server is already on one clean line; this is the last guard.
            print: { FileHandle.standardOutput.write(Data((ClientMessages.terminalSafe($0) + "\n").utf8)) },
            printError: { FileHandle.standardError.write(Data((ClientMessages.terminalSafe($0) + "\n").utf8)) },
            credentialStores: { try CredentialStores.all(environment: environment) },
            openBrowser: { BrowserOpener.open($0, environment: environment) },
            hostName: Self.localHostName(),
            session: PortalClient.ephemeralSession,
            clock: SystemPollingClock()
        )
    }

    /// This machine's name, without a DNS look-up (which `ProcessInfo.hostName` may make).
    static func localHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func client(server: URL, clientID: String, insecureHTTP: Bool) -> PortalClient {
        PortalClient(
            server: server,
            clientID: clientID,
            session: session,
            clock: clock,
            allowsInsecureHTTP: insecureHTTP,
            userAgent: ClientCommands.userAgent
        )
    }

    func fail(_ message: String) -> Int32 {
        printError("error: " + message)
        return ExitStatus.failure
    }
}

enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
}
