import Fluent
import Leaf
import SMTPClient
import Vapor

/// Sets the application up: configuration, database, views, middleware, commands, routes.
public func configure(_ app: Application, with config: PortalConfig) throws {
    app.config = config
    try app.useResources(config.resources)  // before anything is written: a server without its pages stops here
    let secret = try PortalSecret.resolve(config)
    app.config.portalSecret = secret
    app.metrics = PortalMetrics()
    app.requestsInFlight = RequestsInFlight()
    app.heldPolls = HeldPolls(limit: config.devicePollMaxHeld)
    app.signingKeys = SigningKeyStore(secret: secret, jwtTTL: config.sessionJWTTTL)
    app.useIdentityProviders(config)
    // Blocking work (SQLite calls, bcrypt) runs here; the shared default has one thread per
    // core, too few for a writer waiting on a lock beside a bcrypt hash and a reader.
    app.threadPool = NIOThreadPool(numberOfThreads: max(4, 2 * System.coreCount))
    app.threadPool.start()
    try app.useDatabase(config.database)
    app.migrations.add(portalMigrations)
    app.lifecycle.use(DatabasePreparation())
    if ["serve", "demo"].contains(app.commandName) {
        app.lifecycle.use(Housekeeping.Schedule(interval: .minutes(10)))
        app.lifecycle.use(DeviceDecisionListener())
        if config.mail != nil { app.lifecycle.use(OutboxSender()) }
        app.lifecycle.use(GracefulShutdown())
        app.lifecycle.use(IdentityProviderWarmUp())
    }
    app.mailTransport = config.mail.map {
        SMTPClient(server: $0.server, helloName: app.mailHelloName, group: app.eventLoopGroup)
    }

    app.passwords.use(.bcrypt(cost: config.bcryptCost))
    app.dummyPasswordHash = try Bcrypt.hash(OpaqueSecret.hex(), cost: config.bcryptCost)

    let json = JSONEncoder()
    json.outputFormatting = .withoutEscapingSlashes
    ContentConfiguration.global.use(encoder: json, for: .json)

    app.views.use(.leaf)

    // Outermost first: every request gets an id and is counted, every response gets the
    // security headers, errors become JSON or pages, static files skip the rest.
    app.middleware = Middlewares()
    app.middleware.use(RequestObservationMiddleware())
    app.middleware.use(SecurityHeadersMiddleware(https: app.servesHTTPS))
    app.middleware.use(PortalErrorMiddleware())
    app.middleware.use(RequestTargetMiddleware())
    app.middleware.use(PublicFilesMiddleware(publicDirectory: app.directory.publicDirectory))
    app.middleware.use(NoStoreMiddleware())

    app.registerCommands()
    try routes(app)
}
