import Foundation
import SMTPClient

/// One environment variable: its name, its default, how its text is read, and what it must be.
extension PortalConfig {
    public struct Variable<Value>: Sendable where Value: Sendable {
        public let name: String
        public let fallback: Value
        let parse: @Sendable (String) -> Value?
        /// What a value must be, for the error that names the variable.
        let expected: String
        /// Shown back in an error; a secret never is, not even a malformed one.
        var isSecret = false
    }
}

extension PortalConfig.Variable where Value == Int {
    static func seconds(_ name: String, default fallback: Int, within range: ClosedRange<Int>) -> Self {
        .init(
            name: name,
            fallback: fallback,
            parse: { Int($0).flatMap { range.contains($0) ? $0 : nil } },
            expected: "a whole number of seconds from \(range.lowerBound) to \(range.upperBound)"
        )
    }

    static func number(_ name: String, default fallback: Int, within range: ClosedRange<Int>, of what: String) -> Self {
        .init(
            name: name,
            fallback: fallback,
            parse: { Int($0).flatMap { range.contains($0) ? $0 : nil } },
            expected: "a whole number of \(what) from \(range.lowerBound) to \(range.upperBound)"
        )
    }
}

/// Every setting the portal reads, declared once.
extension PortalConfig {
    public enum Setting {
        public static var database: PortalConfig.Variable<DatabaseURL> {
            .init(
                name: "DATABASE_URL",
                fallback: .sqliteFile("portal.sqlite"),
                parse: DatabaseURL.init,
                expected: "sqlite://PATH, sqlite://:memory: or postgres://USER:PASS@HOST:PORT/DB"
            )
        }
        public static var publicBaseURL: PortalConfig.Variable<String?> {
            .init(
                name: "PUBLIC_BASE_URL",
                fallback: nil,
                parse: { PortalConfig.parseBaseURL($0).map(Optional.some) },
                expected: "an http or https origin such as https://portal.example.com"
            )
        }
        public static var deviceCodeTTL: PortalConfig.Variable<Int> {
            .seconds("DEVICE_CODE_TTL", default: 900, within: 60...86_400)
        }
        public static var devicePollInterval: PortalConfig.Variable<Int> {
            .seconds("DEVICE_POLL_INTERVAL", default: 5, within: 1...60)
        }
        public static var tokenTTL: PortalConfig.Variable<Int> {
            .seconds("TOKEN_TTL", default: 7_776_000, within: 60...(5 * 365 * 86_400))
        }
        public static var sessionJWTTTL: PortalConfig.Variable<Int> {
            .seconds("SESSION_JWT_TTL", default: 60, within: 10...3_600)
        }
        public static var portalName: PortalConfig.Variable<String> {
            .init(
                name: "PORTAL_NAME",
                fallback: "DevicePortal",
                parse: PortalConfig.parseName,
                expected: "a name of 1 to 60 characters"
            )
        }
        public static var autoMigrate: PortalConfig.Variable<Bool> {
            .init(name: "AUTO_MIGRATE", fallback: true, parse: PortalConfig.parseBool, expected: "true or false")
        }
        public static var bcryptCost: PortalConfig.Variable<Int> {
            .init(
                name: "BCRYPT_COST",
                fallback: 12,
                parse: { Int($0).flatMap { (10...16).contains($0) ? $0 : nil } },
                expected: "a whole number from 10 to 16"
            )
        }
        public static var portalSecret: PortalConfig.Variable<PortalSecret?> {
            .init(
                name: "PORTAL_SECRET",
                fallback: nil,
                parse: { PortalSecret($0).map(Optional.some) },
                expected:
                    "at least 32 random bytes as hex or base64 (required with PostgreSQL; e.g. openssl rand -hex 32)",
                isSecret: true
            )
        }
        public static var trustedProxies: PortalConfig.Variable<[IPRange]> {
            .init(
                name: "TRUSTED_PROXIES",
                fallback: [],
                parse: PortalConfig.parseRanges,
                expected: "IP addresses or CIDR blocks separated by commas, e.g. 10.0.0.0/8,192.168.1.7"
            )
        }
        public static var metricsToken: PortalConfig.Variable<String?> {
            .init(
                name: "METRICS_TOKEN",
                fallback: nil,
                parse: { PortalConfig.parseMetricsToken($0).map(Optional.some) },
                expected: "at least 16 characters of letters, digits and -._~+/= (e.g. openssl rand -hex 32)",
                isSecret: true
            )
        }
        public static var deviceCodeRateLimit: PortalConfig.Variable<Int> {
            .number(
                "DEVICE_CODE_RATE_LIMIT",
                default: 30,
                within: 0...100_000,
                of: "device codes per IP and minute (0: no limit)"
            )
        }
        public static var databasePoolSize: PortalConfig.Variable<Int> {
            .number("DATABASE_POOL_SIZE", default: 8, within: 1...1_000, of: "PostgreSQL connections per instance")
        }
        public static var devicePollMaxHeld: PortalConfig.Variable<Int> {
            .number("DEVICE_POLL_MAX_HELD", default: 10_000, within: 0...1_000_000, of: "polls held at once (0: none)")
        }
        public static var resources: PortalConfig.Variable<String?> {
            .init(
                name: "PORTAL_RESOURCES",
                fallback: nil,
                parse: { Optional.some($0) },
                expected: "the folder that holds Templates/ and Public/"
            )
        }
        public static var databasePreparedStatements: PortalConfig.Variable<Bool> {
            .init(
                name: "DATABASE_PREPARED_STATEMENTS",
                fallback: true,
                parse: PortalConfig.parseBool,
                expected: "true, or false behind a transaction pooler such as PgBouncer"
            )
        }
        public static var smtpURL: PortalConfig.Variable<SMTPServer?> {
            .init(
                name: "SMTP_URL",
                fallback: nil,
                parse: { SMTPServer(url: $0).map(Optional.some) },
                expected: SMTPServer.urlForms,
                // A malformed URL may still hold a password, which no log should show.
                isSecret: true
            )
        }
        public static var mailFrom: PortalConfig.Variable<MailAddress?> {
            .init(
                name: "MAIL_FROM",
                fallback: nil,
                parse: { (try? MailAddress(parsing: $0)).map(Optional.some) },
                expected:
                    "the sender of the portal's mail, portal@example.com or Name <portal@example.com> (needed with SMTP_URL)"
            )
        }
    }
}

struct EnvironmentReader {
    let read: (String) -> String?

    /// The setting's value, or its default when the variable is unset or empty.
    func value<T>(_ setting: PortalConfig.Variable<T>) throws -> T {
        guard let raw = read(setting.name), !raw.isEmpty else { return setting.fallback }
        guard let parsed = setting.parse(raw) else {
            let shown = setting.isSecret ? "(hidden)" : DatabaseURL.redacted(raw)
            throw ConfigurationError(variable: setting.name, value: shown, expected: setting.expected)
        }
        return parsed
    }
}
