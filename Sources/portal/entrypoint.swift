import DevicePortal
import Foundation
import Logging
import Vapor

@main
enum Entrypoint {
    static func main() async throws {
        // login, whoami and logout are the desktop side: no database, none of the server's set-up.
        if let status = await ClientCommands.run(CommandLine.arguments, context: .live()) {
            exit(status)
        }
        var env = try Environment.detect()
        switch Environment.get("LOG_FORMAT") ?? "text" {
        case "json": try LoggingSystem.bootstrap(from: &env) { level in { JSONLogHandler(label: $0, level: level) } }
        case "text", "": try LoggingSystem.bootstrap(from: &env)
        case let other:
            FileHandle.standardError.write(
                Data("error: Invalid LOG_FORMAT=\"\(other)\": expected text or json.\n".utf8)
            )
            exit(1)
        }
        let app = try await Application.make(env)
        do {
            try configure(app, with: try PortalConfig.fromEnvironment())
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            try? await app.asyncShutdown()
            exit(1)
        }
        do {
            try await app.execute()
        } catch {
            // Vapor has already reported the command's error.
            try? await app.asyncShutdown()
            exit(1)
        }
        try await app.asyncShutdown()
    }
}
