import Foundation
import Testing

@testable import DevicePortal

@Suite("Configuration from the environment")
struct ConfigTests {
    private func load(_ values: [String: String]) throws -> PortalConfig {
        try PortalConfig.fromEnvironment { values[$0] }
    }

    @Test("defaults are the contract's")
    func defaults() throws {
        let config = try load([:])
        #expect(config.database == .sqliteFile("portal.sqlite"))
        #expect(config.publicBaseURL == nil)
        #expect(config.deviceCodeTTL == 900)
        #expect(config.devicePollInterval == 5)
        #expect(config.tokenTTL == 7_776_000)
        #expect(config.sessionJWTTTL == 60)
        #expect(config.portalName == "DevicePortal")
        #expect(config.autoMigrate)
        #expect(config.bcryptCost >= 10)
        #expect(config.databasePoolSize == 8)
    }

    @Test("values are read")
    func values() throws {
        let config = try load([
            "DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal",
            "PUBLIC_BASE_URL": "https://portal.example.com/",
            "TOKEN_TTL": "3600", "PORTAL_NAME": "Acme Sign-in", "AUTO_MIGRATE": "false",
            "PORTAL_SECRET": String(repeating: "a1", count: 32), "DATABASE_POOL_SIZE": "20",
        ])
        #expect(config.database == .postgres("postgres://portal:secret@db.internal:5432/portal"))
        #expect(config.publicBaseURL == "https://portal.example.com")
        #expect(config.tokenTTL == 3_600)
        #expect(config.portalName == "Acme Sign-in")
        #expect(!config.autoMigrate)
        #expect(config.databasePoolSize == 20)
        #expect(try load(["DATABASE_URL": "sqlite://:memory:"]).database == .sqliteMemory)
    }

    @Test(
        "a bad value stops start-up with a message naming the variable",
        arguments: [
            ("TOKEN_TTL", "abc"), ("TOKEN_TTL", "0"), ("DEVICE_CODE_TTL", "-5"), ("DEVICE_POLL_INTERVAL", "0"),
            ("DATABASE_URL", "mysql://db/portal"), ("DATABASE_URL", "postgres://"), ("PUBLIC_BASE_URL", "ftp://x"),
            ("PUBLIC_BASE_URL", "portal.example.com"), ("AUTO_MIGRATE", "maybe"), ("BCRYPT_COST", "4"),
            ("SESSION_JWT_TTL", "1e9"), ("DATABASE_POOL_SIZE", "0"), ("DATABASE_POOL_SIZE", "many"),
        ]
    )
    func refusals(variable: String, value: String) {
        do {
            _ = try load([variable: value])  // MUT
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            #expect(String(describing: error).contains(variable))
        }
    }

    @Test("a database password never appears in the message")
    func passwordRedacted() {
        do {
            _ = try load(["DATABASE_URL": "mysql://portal:hunter2@db/portal"])
            Issue.record("accepted")
        } catch {
            #expect(!String(describing: error).contains("hunter2"))
        }
    }
}

@Suite("PORTAL_SECRET and TRUSTED_PROXIES")
struct SecretAndProxyConfigTests {
    private func load(_ values: [String: String]) throws -> PortalConfig {
        try PortalConfig.fromEnvironment { values[$0] }
    }

    @Test("PORTAL_SECRET takes 32 or more bytes as hex or base64, and is required with PostgreSQL")
    func secret() throws {
        let hex = String(repeating: "0f", count: 32)
        #expect(try load(["PORTAL_SECRET": hex]).portalSecret?.bytes.count == 32)
        let base64 = Data(repeating: 7, count: 48).base64EncodedString()
        #expect(try load(["PORTAL_SECRET": base64]).portalSecret?.bytes.count == 48)
        for bad in [String(repeating: "0f", count: 31), "short", "not base64 at all, not hex either!!"] {
            do {
                _ = try load(["PORTAL_SECRET": bad])
                Issue.record("accepted \(bad)")
            } catch {
                #expect(String(describing: error).contains("PORTAL_SECRET"))
                #expect(!String(describing: error).contains(bad))
            }
        }
        #expect(throws: ConfigurationError.self) { try load(["DATABASE_URL": "postgres://u@db/portal"]) }
        #expect(try load(["DATABASE_URL": "postgres://u@db/portal", "PORTAL_SECRET": hex]).portalSecret != nil)
    }

    @Test("beside a SQLite file the secret is created once with mode 0600, then reused")
    func secretFile() throws {
        let directory = NSTemporaryDirectory() + "portal-secret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = PortalConfig(database: .sqliteFile(directory + "/portal.sqlite"))
        let first = try PortalSecret.resolve(config)  // MUT
        var file = stat()
        #expect(stat(directory + "/portal.secret", &file) == 0)
        #expect(file.st_mode & 0o777 == 0o600)
        #expect(try PortalSecret.resolve(config) == first)
        #expect(first.bytes.count == 32)
    }

    @Test("a secret of full-width digits is refused, not a crash; HTTPS in capitals still means https")
    func oddInput() throws {
        #expect(PortalSecret(String(repeating: "\u{FF10}", count: 64)) == nil)
        do {
            _ = try load(["PORTAL_SECRET": String(repeating: "\u{FF10}", count: 64)])
            Issue.record("accepted")
        } catch {
            #expect(String(describing: error).contains("PORTAL_SECRET"))
        }
        let config = try load(["PUBLIC_BASE_URL": "HTTPS://Portal.Example.com"])
        #expect(config.publicBaseURL?.hasPrefix("https://") == true)
    }

    @Test("an existing secret file that cannot be read is an error, never replaced")
    func unreadableSecretFile() throws {
        let directory = NSTemporaryDirectory() + "portal-secret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let garbage = Data([0xFF, 0xFE, 0x00, 0x41])
        #expect(FileManager.default.createFile(atPath: directory + "/portal.secret", contents: garbage))
        #expect(throws: (any Error).self) {
            try PortalSecret.resolve(PortalConfig(database: .sqliteFile(directory + "/portal.sqlite")))
        }
        #expect(FileManager.default.contents(atPath: directory + "/portal.secret") == garbage)
    }

    @Test("TRUSTED_PROXIES takes addresses and CIDR blocks; anything else stops start-up")
    func trustedProxies() throws {
        let ranges = try load(["TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,2001:db8::/32"]).trustedProxies
        #expect(ranges.count == 3)
        #expect(ranges[0].contains("10.1.2.3"))
        #expect(!ranges[0].contains("11.0.0.1"))
        #expect(ranges[1].contains("192.168.1.7"))
        #expect(ranges[1].contains("::ffff:192.168.1.7"))
        #expect(!ranges[1].contains("192.168.1.8"))
        #expect(ranges[2].contains("2001:db8:1::5"))
        #expect(!ranges[2].contains("2001:db9::1"))
        #expect(throws: ConfigurationError.self) { try load(["TRUSTED_PROXIES": "10.0.0.0/33"]) }
        #expect(throws: ConfigurationError.self) { try load(["TRUSTED_PROXIES": "proxy.internal"]) }
    }

    @Test("X-Forwarded-For is believed only through trusted proxies")
    func clientAddress() {
        let proxies = [IPRange("10.0.0.0/8")!]
        // Nobody is trusted by default: the peer is the client.
        #expect(ClientAddress.of(peer: "10.0.0.5", forwardedFor: ["203.0.113.9"], trusted: []) == "10.0.0.5")
        #expect(ClientAddress.of(peer: "10.0.0.5", forwardedFor: ["203.0.113.9"], trusted: proxies) == "203.0.113.9")
        // A client cannot forge its way in front of the proxy: the first untrusted hop from the right wins.
        #expect(
            ClientAddress.of(peer: "10.0.0.5", forwardedFor: ["1.2.3.4, 203.0.113.9"], trusted: proxies)
                == "203.0.113.9"
        )
        #expect(
            ClientAddress.of(peer: "10.0.0.5", forwardedFor: ["203.0.113.9, 10.0.0.7"], trusted: proxies)
                == "203.0.113.9"
        )
        // An untrusted peer's header is ignored.
        #expect(ClientAddress.of(peer: "198.51.100.1", forwardedFor: ["1.2.3.4"], trusted: proxies) == "198.51.100.1")
        #expect(ClientAddress.of(peer: "10.0.0.5", forwardedFor: ["garbage"], trusted: proxies) == "10.0.0.5")
    }
}
