import Foundation

/// What a signed-in desktop app keeps: the server, its client id, and the token.
public struct StoredCredentials: Codable, Equatable, Sendable {
    public var server: URL
    public var clientID: String
    public var token: AccessToken

    public init(server: URL, clientID: String, token: AccessToken) {
        self.server = server
        self.clientID = clientID
        self.token = token
    }

    enum CodingKeys: String, CodingKey {
        case server
        case clientID = "client_id"
        case token
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    static func decoded(_ data: Data, from location: String) throws -> StoredCredentials {
        do {
            return try JSONDecoder().decode(StoredCredentials.self, from: data)
        } catch {
            throw CredentialStoreError(location: location, problem: "the stored credentials are unreadable")
        }
    }
}

/// Where a desktop app keeps one sign-in. `platformDefault` picks the right one.
public protocol CredentialStore: Sendable {
    /// Where the credentials are, for messages: a file path or the keychain's name.
    var location: String { get }
    /// The stored credentials, or `nil` when none are stored.
    func load() throws -> StoredCredentials?
    /// Replaces the stored credentials.
    func save(_ credentials: StoredCredentials) throws
    /// Forgets the stored credentials; succeeds when there were none.
    func delete() throws
}

public struct CredentialStoreError: Error, Equatable, LocalizedError {
    public let location: String
    public let problem: String

    public var errorDescription: String? { "\(location): \(problem)" }
}

public enum CredentialStores {
    /// Where a sign-in may be kept on this machine, the preferred first: the macOS Keychain where
    /// the Security framework exists; elsewhere the Secret Service (through `secret-tool`) when a
    /// session bus is there, then a private file in `$XDG_CONFIG_HOME/devportal/` (or
    /// `~/.config/devportal/`).
    ///
    /// A sign-in is saved in the first; it is looked for in all of them. Which stores exist
    /// depends on the session (over SSH there is usually no session bus), so a sign-in saved in
    /// the file from one session is still found, signed out and replaced from another.
    public static func all(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [any CredentialStore] {
        #if canImport(Security)
            return [KeychainCredentialStore()]
        #else
            var stores: [any CredentialStore] = []
            if let secretService = SecretServiceCredentialStore(environment: environment) {
                stores.append(secretService)
            }
            if let file = FileCredentialStore.standardLocation(environment: environment) {
                stores.append(FileCredentialStore(fileURL: file))
            }
            guard !stores.isEmpty else {
                throw CredentialStoreError(
                    location: "$XDG_CONFIG_HOME or $HOME",
                    problem: "neither is set to an absolute path"
                )
            }
            return stores
        #endif
    }

    /// The store a new sign-in goes to: the first of `all(environment:)`.
    public static func platformDefault(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> any CredentialStore {
        try all(environment: environment)[0]
    }
}
