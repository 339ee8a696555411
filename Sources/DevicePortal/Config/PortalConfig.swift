import SMTPClient
import Vapor

/// Everything the portal reads from its environment, parsed once at start-up. Each setting's
/// variable, default and accepted values are declared once, in `PortalConfig.Setting`.
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
    /// Polls one instance holds open at once for `Prefer: wait`; past that, polls are answered at once.
    public var devicePollMaxHeld: Int
    /// Where `Templates/` and `Public/` were found (`PORTAL_RESOURCES`, the working directory or
    /// beside the executable); `nil`: those of `app.directory` as the caller set it (the tests).
    public var resources: PortalResources?
    /// Sign-in with the company's OpenID Connect provider; `nil`: passwords only.
    public var oidc: OIDCSettings?
    /// `false`: only the provider signs people in.
    public var passwordSignIn: Bool
    /// The company's session JWTs at the guard; `nil`: none accepted.
    public var externalJWT: ExternalJWTSettings?
    /// Where mail goes and who sends it (`SMTP_URL`, `MAIL_FROM`); `nil`: nothing is mailed.
    public var mail: MailConfig?

    public init(
        database: DatabaseURL = Setting.database.fallback,
        publicBaseURL: String? = Setting.publicBaseURL.fallback,
        deviceCodeTTL: Int = Setting.deviceCodeTTL.fallback,
        devicePollInterval: Int = Setting.devicePollInterval.fallback,
        tokenTTL: Int = Setting.tokenTTL.fallback,
        sessionJWTTTL: Int = Setting.sessionJWTTTL.fallback,
        portalName: String = Setting.portalName.fallback,
        autoMigrate: Bool = Setting.autoMigrate.fallback,
        bcryptCost: Int = Setting.bcryptCost.fallback,
        portalSecret: PortalSecret? = nil,
        trustedProxies: [IPRange] = Setting.trustedProxies.fallback,
        metricsToken: String? = nil,
        deviceCodesPerIPPerMinute: Int = Setting.deviceCodeRateLimit.fallback,
        databasePoolSize: Int = Setting.databasePoolSize.fallback,
        databasePreparedStatements: Bool = Setting.databasePreparedStatements.fallback,
        devicePollMaxHeld: Int = Setting.devicePollMaxHeld.fallback,
        resources: PortalResources? = nil,
        oidc: OIDCSettings? = nil,
        passwordSignIn: Bool = Setting.passwordSignIn.fallback,
        externalJWT: ExternalJWTSettings? = nil,
        mail: MailConfig? = nil
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
        self.devicePollMaxHeld = devicePollMaxHeld
        self.resources = resources
        self.oidc = oidc
        self.passwordSignIn = passwordSignIn
        self.externalJWT = externalJWT
        self.mail = mail
    }

    /// Reads the settings of docs/OPERATIONS.md; a bad value throws an error naming the variable.
    public static func fromEnvironment(
        _ read: @escaping (String) -> String? = { Environment.get($0) }
    ) throws
        -> PortalConfig
    {
        let env = EnvironmentReader(read: read)
        let database = try env.value(Setting.database)
        let identity = try identitySettings(env)
        let config = PortalConfig(
            database: database.withoutPreparedStatementsOption,
            publicBaseURL: try env.value(Setting.publicBaseURL),
            deviceCodeTTL: try env.value(Setting.deviceCodeTTL),
            devicePollInterval: try env.value(Setting.devicePollInterval),
            tokenTTL: try env.value(Setting.tokenTTL),
            sessionJWTTTL: try env.value(Setting.sessionJWTTTL),
            portalName: try env.value(Setting.portalName),
            autoMigrate: try env.value(Setting.autoMigrate),
            bcryptCost: try env.value(Setting.bcryptCost),
            portalSecret: try env.value(Setting.portalSecret),
            trustedProxies: try env.value(Setting.trustedProxies),
            metricsToken: try env.value(Setting.metricsToken),
            deviceCodesPerIPPerMinute: try env.value(Setting.deviceCodeRateLimit),
            databasePoolSize: try env.value(Setting.databasePoolSize),
            // `?prepared_statements=` in DATABASE_URL, where poolers' docs put it, wins.
            databasePreparedStatements: try database.preparedStatementsOption
                ?? env.value(Setting.databasePreparedStatements),
            devicePollMaxHeld: try env.value(Setting.devicePollMaxHeld),
            resources: PortalResources.locate(setting: try env.value(Setting.resources)),
            oidc: identity.oidc,
            passwordSignIn: identity.passwordSignIn,
            externalJWT: identity.externalJWT,
            mail: try MailConfig.read(env)
        )
        if case .postgres = config.database, config.portalSecret == nil {
            // Every instance must share it, so none may invent its own.
            throw ConfigurationError(
                variable: Setting.portalSecret.name,
                value: "",
                expected: Setting.portalSecret.expected
            )
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
            charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/="
        )
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
