import Foundation
import NIOConcurrencyHelpers
import VaporTesting

@testable import DevicePortal

/// A console that keeps what a command prints.
final class CapturingConsole: Console {
    private let captured = NIOLockedValueBox("")
    private let info = NIOLockedValueBox<[AnySendableHashable: any Sendable]>([:])

    var output: String { captured.withLockedValue { $0 } }
    var size: (width: Int, height: Int) { (120, 40) }
    var userInfo: [AnySendableHashable: any Sendable] {
        get { info.withLockedValue { $0 } }
        set { info.withLockedValue { $0 = newValue } }
    }

    func input(isSecure: Bool) -> String { "" }
    func output(_ text: ConsoleText, newLine: Bool) {
        captured.withLockedValue { $0 += text.description + (newLine ? "\n" : "") }
    }
    func clear(_ type: ConsoleClear) {}
    func report(error: String, newLine: Bool) {
        captured.withLockedValue { $0 += error + (newLine ? "\n" : "") }
    }
}

/// Runs an admin command as `portal NAME ARGS…` would, returning what it printed.
@discardableResult
func runCommand(_ app: Application, _ name: String, _ arguments: [String]) async throws -> String {
    let console = CapturingConsole()
    var context = CommandContext(console: console, input: CommandInput(arguments: ["portal"] + arguments))
    context.application = app
    guard let command = app.asyncCommands.commands[name] else { throw TestFailure("no command \(name)") }
    try await command.run(using: &context)
    return console.output
}

/// The message a command fails with.
func commandFailure(_ app: Application, _ name: String, _ arguments: [String]) async -> String? {
    do {
        try await runCommand(app, name, arguments)
        return nil
    } catch {
        return String(describing: error)
    }
}
