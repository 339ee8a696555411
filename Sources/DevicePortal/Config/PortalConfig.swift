import Vapor

/// Everything the portal reads from its environment, parsed once at start-up.
public struct PortalConfig: Sendable {
    public var database: DatabaseURL
    /// `nil` means "derive it from the address the server is bound to".
    public var publicBaseURL: String?
    public var deviceCodeTTL: Int
    public var devicePollInterval: Int
    public var tokenTTL: Int
    public var sessionJWTTTL: Int
    public var portalName: String
    public var autoMigrate: Bool
    /// Bcrypt cost for new password hashes; tests lower it, the environment never can below 10.
    public var bcryptCost: Int
    /// `PORTAL_SECRET` as given; `nil` means "use or create `portal.secret` beside the SQLite file".
    public var portalSecret: PortalSecret?
    /// Peers whose `X-Forwarded-For` is believed.
    public var trustedProxies: [IPRange]
    /// The bearer token `/metrics` needs; `nil`: loopback peers only.
    public var metricsToken: String?
    /// Device codes one IP may ask for a minute (ten times as many an hour); 0: no limit.
    public var deviceCodesPerIPPerMinute: Int
    /// PostgreSQL connections this instance may hold (shared out over its event loops).
    public var databasePoolSize: Int
    /// Whether the hot paths keep named prepared statements on a PostgreSQL connection; `false`
    /// behind a transaction pooler (PgBouncer), which hands each transaction another connection.
    public var databasePreparedStatements: Bool

    public init(
        database: DatabaseURL = .sqliteFile("portal.sqlite"),
        publicBaseURL: String? = nil,
        deviceCodeTTL: Int = 900,
        devicePollInterval: Int = 5,
        tokenTTL: Int = 7_776_000,
        sessionJWTTTL: Int = 60,
        portalName: String = "DevicePortal",
        autoMigrate: Bool = true,
        bcryptCost: Int = 12,
        portalSecret: PortalSecret? = nil,
        trustedProxies: [IPRange] = [],
        metricsToken: String? = nil,
        deviceCodesPerIPPerMinute: Int = 30,
        databasePoolSize: Int = 8,
        databasePreparedStatements: Bool = true
    ) {
        self.database = database
        self.publicBaseURL = publicBaseURL
        self.deviceCodeTTL = deviceCodeTTL
        self.devicePollInterval = devicePollInterval
        self.tokenTTL = tokenTTL
        self.sessionJWTTTL = sessionJWTTTL
        self.portalName = portalName
        self.autoMigrate = autoMigrate
        self.bcryptCost = bcryptCost
        self.portalSecret = portalSecret
        self.trustedProxies = trustedProxies
        self.metricsToken = metricsToken
        self.deviceCodesPerIPPerMinute = deviceCodesPerIPPerMinute
        self.databasePoolSize = databasePoolSize
        self.databasePreparedStatements = databasePreparedStatements
    }

    /// Reads the contract's variables; a bad value throws an error naming the variable.
    public static func fromEnvironment(_ read: @escaping (String) -> String? = { Environment.get($0) }) throws
        -> PortalConfig
    {
        let env = EnvironmentReader(read: read)
        let database = try env.value(
            "DATABASE_URL", default: DatabaseURL.sqliteFile("portal.sqlite"), parse: DatabaseURL.init)
        let config = PortalConfig(
            database: database.withoutPreparedStatementsOption,
            publicBaseURL: try env.optional("PUBLIC_BASE_URL", parse: Self.parseBaseURL),
            deviceCodeTTL: try env.seconds("DEVICE_CODE_TTL", default: 900, within: 60...86_400),
            devicePollInterval: try env.seconds("DEVICE_POLL_INTERVAL", default: 5, within: 1...60),
            tokenTTL: try env.seconds("TOKEN_TTL", default: 7_776_000, within: 60...(5 * 365 * 86_400)),
            sessionJWTTTL: try env.seconds("SESSION_JWT_TTL", default: 60, within: 10...3_600),
            portalName: try env.value("PORTAL_NAME", default: "DevicePortal", parse: Self.parseName),
            autoMigrate: try env.value("AUTO_MIGRATE", default: true, parse: Self.parseBool),
            bcryptCost: try env.value("BCRYPT_COST", default: 12) {
                Int($0).flatMap { (10...16).contains($0) ? $0 : nil }
            },
            portalSecret: try env.optional("PORTAL_SECRET", parse: PortalSecret.init),
            trustedProxies: try env.value("TRUSTED_PROXIES", default: [], parse: Self.parseRanges),
            metricsToken: try env.optional("METRICS_TOKEN", parse: Self.parseMetricsToken),
            deviceCodesPerIPPerMinute: try env.value("DEVICE_CODE_RATE_LIMIT", default: 30) {
                Int($0).flatMap { (0...100_000).contains($0) ? $0 : nil }
            },
            databasePoolSize: try env.value("DATABASE_POOL_SIZE", default: 8) {
                Int($0).flatMap { (1...1_000).contains($0) ? $0 : nil }
            },
            // `?prepared_statements=` in DATABASE_URL, where poolers' docs put it, wins.
            databasePreparedStatements: try database.preparedStatementsOption
                ?? env.value("DATABASE_PREPARED_STATEMENTS", default: true, parse: Self.parseBool)
        )
        if case .postgres = config.database, config.portalSecret == nil {
            // Every instance must share it, so none may invent its own.
            throw ConfigurationError(
                variable: "PORTAL_SECRET", value: "", expected: EnvironmentReader.expectation("PORTAL_SECRET"))
        }
        return config
    }

    /// Comma- or space-separated addresses and CIDR blocks.
    static func parseRanges(_ raw: String) -> [IPRange]? {
        let items = raw.split(whereSeparator: { $0 == "," || $0 == " " })
        let ranges = items.compactMap(IPRange.init)
        return ranges.count == items.count ? ranges : nil
    }

    /// An http(s) origin, with its scheme in lower case (so `https` is recognised however written).
    static func parseBaseURL(_ raw: String) -> String? {
        let trimmed = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
        guard var url = URLComponents(string: trimmed), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host?.isEmpty == false, url.query == nil, url.fragment == nil
        else { return nil }
        url.scheme = scheme
        return url.string
    }

    static func parseName(_ raw: String) -> String? {
        let name = raw.trimmingCharacters(in: .whitespaces)
        return (1...60).contains(name.count) ? name : nil
    }

    /// A bearer token (RFC 6750 `b64token` characters), long enough not to be guessed.
    static func parseMetricsToken(_ raw: String) -> String? {
        let allowed = CharacterSet(
            charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=")
        guard raw.count >= 16, raw.unicodeScalars.allSatisfy(allowed.contains) else { return nil }
        return raw
    }

    static func parseBool(_ raw: String) -> Bool? {
        switch raw.lowercased() {
        case "true", "1", "yes": true
        case "false", "0", "no": false
        default: nil
        }
    }
}

/// A configuration value that could not be used; the message names the variable.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let variable: String
    public let value: String
    public let expected: String
    public var description: String {
        value.isEmpty
            ? "Missing \(variable): expected \(expected)." : "Invalid \(variable)=\"\(value)\": expected \(expected)."
    }
}

struct EnvironmentReader {
    let read: (String) -> String?

    func value<T>(_ name: String, default fallback: T, parse: (String) -> T?) throws -> T {
        guard let raw = read(name), !raw.isEmpty else { return fallback }
        guard let parsed = parse(raw) else {
            throw ConfigurationError(variable: name, value: DatabaseURL.redacted(raw), expected: Self.expectation(name))
        }
        return parsed
    }

    func optional<T>(_ name: String, parse: (String) -> T?) throws -> T? {
        guard let raw = read(name), !raw.isEmpty else { return nil }
        guard let parsed = parse(raw) else {
            // A secret is never echoed back, not even a malformed one.
            let shown = ["PORTAL_SECRET", "METRICS_TOKEN"].contains(name) ? "(hidden)" : raw
            throw ConfigurationError(variable: name, value: shown, expected: Self.expectation(name))
        }
        return parsed
    }

    func seconds(_ name: String, default fallback: Int, within range: ClosedRange<Int>) throws -> Int {
        guard let raw = read(name), !raw.isEmpty else { return fallback }
        guard let seconds = Int(raw), range.contains(seconds) else {
            throw ConfigurationError(
                variable: name, value: raw,
                expected: "a whole number of seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return seconds
    }

    static func expectation(_ name: String) -> String {
        switch name {
        case "DATABASE_URL": "sqlite://PATH, sqlite://:memory: or postgres://USER:PASS@HOST:PORT/DB"
        case "PUBLIC_BASE_URL": "an http or https origin such as https://portal.example.com"
        case "PORTAL_NAME": "a name of 1 to 60 characters"
        case "AUTO_MIGRATE": "true or false"
        case "BCRYPT_COST": "a whole number from 10 to 16"
        case "PORTAL_SECRET":
            "at least 32 random bytes as hex or base64 (required with PostgreSQL; e.g. openssl rand -hex 32)"
        case "TRUSTED_PROXIES": "IP addresses or CIDR blocks separated by commas, e.g. 10.0.0.0/8,192.168.1.7"
        case "DEVICE_CODE_RATE_LIMIT": "a whole number of device codes per IP and minute from 0 (no limit) to 100000"
        case "DATABASE_POOL_SIZE": "a whole number of PostgreSQL connections per instance from 1 to 1000"
        case "DATABASE_PREPARED_STATEMENTS": "true, or false behind a transaction pooler such as PgBouncer"
        case "METRICS_TOKEN": "at least 16 characters of letters, digits and -._~+/= (e.g. openssl rand -hex 32)"
        default: "a valid value"
        }
    }
}
