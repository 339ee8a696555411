import Foundation

/// Credentials in the desktop's keyring (GNOME Keyring, KWallet…) over the freedesktop Secret
/// Service, through libsecret's `secret-tool`. The secret travels on standard input and
/// output, never on a command line that other users could read.
public struct SecretServiceCredentialStore: CredentialStore {
    public let secretTool: URL
    /// The item's `application` attribute; tests use one of their own.
    public let application: String
    let environment: [String: String]

    /// `nil` unless `secret-tool` is on the `PATH` and a session bus is there to reach the keyring.
    public init?(environment: [String: String], application: String = "devportal") {
        guard let bus = environment["DBUS_SESSION_BUS_ADDRESS"], !bus.isEmpty,
            let tool = Self.find("secret-tool", path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        else { return nil }
        self.secretTool = tool
        self.application = application
        self.environment = environment
    }

    public var location: String { "the Secret Service keyring (secret-tool, application=\(application))" }

    private var attributes: [String] { ["application", application, "kind", "credentials"] }

    public func load() throws -> StoredCredentials? {
        let result = try run(["lookup"] + attributes)
        // secret-tool exits 1 and prints nothing when there is no such secret.
        if result.status != 0 {
            if result.errors.isEmpty && result.output.isEmpty { return nil }
            throw failure("lookup", result)
        }
        if result.output.isEmpty { return nil }
        return try StoredCredentials.decoded(result.output, from: location)
    }

    public func save(_ credentials: StoredCredentials) throws {
        let result = try run(["store", "--label=DevicePortal sign-in"] + attributes, input: credentials.encoded())
        guard result.status == 0 else { throw failure("store", result) }
    }

    public func delete() throws {
        let result = try run(["clear"] + attributes)
        guard result.status == 0 || result.errors.isEmpty else { throw failure("clear", result) }
    }

    private struct Result {
        let status: Int32
        let output: Data
        let errors: Data
    }

    private func run(_ arguments: [String], input: Data? = nil) throws -> Result {
        let process = Process()
        process.executableURL = secretTool
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw CredentialStoreError(location: location, problem: "cannot run \(secretTool.path): \(error)")
        }
        if let input { stdin.fileHandleForWriting.write(input) }
        try? stdin.fileHandleForWriting.close()
        // secret-tool writes a few bytes at most: read each pipe to its end, then the exit status.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errorOutput = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: output, errors: errorOutput)
    }

    private func failure(_ action: String, _ result: Result) -> CredentialStoreError {
        let message = String(decoding: result.errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return CredentialStoreError(
            location: location,
            problem: "secret-tool \(action) failed (exit \(result.status))" + (message.isEmpty ? "" : ": \(message)")
        )
    }

    static func find(_ name: String, path: String) -> URL? {
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}
