import Vapor

/// On SIGTERM, stops the HTTP server before anything else shuts down: it stops accepting
/// connections, lets requests in flight finish (up to the server's shutdown timeout, 10 s)
/// and closes idle keep-alive connections. Only then do the later steps of
/// `Application.asyncShutdown` close the database pools, which handlers may still be using.
/// Lifecycle handlers shut down in reverse order, so this is registered last.
struct GracefulShutdown: LifecycleHandler {
    func shutdownAsync(_ application: Application) async {
        application.logger.info("shutting down: finishing requests in flight, accepting no new ones")
        await application.server.shutdown()  // logs an error itself if requests outlast the timeout
        application.logger.info("HTTP server stopped; closing the database")
    }
}
