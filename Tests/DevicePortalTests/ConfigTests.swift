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
    }

    @Test("values are read")
    func values() throws {
        let config = try load([
            "DATABASE_URL": "postgres://portal:secret@db.internal:5432/portal",
            "PUBLIC_BASE_URL": "https://portal.example.com/",
            "TOKEN_TTL": "3600", "PORTAL_NAME": "Acme Sign-in", "AUTO_MIGRATE": "false",
        ])
        #expect(config.database == .postgres("postgres://portal:secret@db.internal:5432/portal"))
        #expect(config.publicBaseURL == "https://portal.example.com")
        #expect(config.tokenTTL == 3_600)
        #expect(config.portalName == "Acme Sign-in")
        #expect(!config.autoMigrate)
        #expect(try load(["DATABASE_URL": "sqlite://:memory:"]).database == .sqliteMemory)
    }

    @Test(
        "a bad value stops start-up with a message naming the variable",
        arguments: [
            ("TOKEN_TTL", "abc"), ("TOKEN_TTL", "0"), ("DEVICE_CODE_TTL", "-5"), ("DEVICE_POLL_INTERVAL", "0"),
            ("DATABASE_URL", "mysql://db/portal"), ("DATABASE_URL", "postgres://"), ("PUBLIC_BASE_URL", "ftp://x"),
            ("PUBLIC_BASE_URL", "portal.example.com"), ("AUTO_MIGRATE", "maybe"), ("BCRYPT_COST", "4"),
            ("SESSION_JWT_TTL", "1e9"),
        ])
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
