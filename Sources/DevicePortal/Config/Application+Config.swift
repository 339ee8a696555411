import Vapor

extension Application {
    private struct ConfigKey: StorageKey {
        typealias Value = PortalConfig
    }

    /// The configuration `configure` was given.
    public var config: PortalConfig {
        get { configured(ConfigKey.self) }
        set { storage[ConfigKey.self] = newValue }
    }

    /// Something `configure` stores for the application's lifetime; reading it earlier is a
    /// programming error.
    func configured<Key: StorageKey>(_ key: Key.Type) -> Key.Value {
        guard let value = storage[key] else { fatalError("configure(_:with:) has not run") }
        return value
    }

    /// `PUBLIC_BASE_URL`, or the address the server is bound to.
    var publicBaseURL: String {
        if let url = config.publicBaseURL { return url }
        let server = http.server.configuration
        return "http://\(server.hostname):\(server.port)"
    }

    /// The command this process runs: `portal NAME …`, or `serve` when none is named.
    var commandName: String {
        environment.arguments.dropFirst().first { !$0.hasPrefix("-") } ?? "serve"
    }

    /// Cookies get `Secure` when users reach the portal over https.
    var servesHTTPS: Bool { config.publicBaseURL?.hasPrefix("https://") == true }
}

extension Request {
    /// The user agent, without control characters and cut to a length that is safe to store and show.
    var userAgent: String? {
        headers.first(name: .userAgent).map {
            String(
                String.UnicodeScalarView(
                    $0.unicodeScalars.lazy.filter { $0.value >= 0x20 && !(0x7f...0x9f).contains($0.value) }.prefix(300)
                )
            )
        }
    }
}
