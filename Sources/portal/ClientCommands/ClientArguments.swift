import Foundation

/// `--name value`, `--name=value` and `--flag` arguments of one client command.
struct ClientArguments {
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []
    private(set) var wantsHelp = false

    struct UsageError: Error {
        let message: String
    }

    init(_ arguments: [String], options: Set<String> = [], flags knownFlags: Set<String> = []) throws {
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "--help" || argument == "-h" {
                wantsHelp = true
                continue
            }
            guard argument.hasPrefix("--") else { throw UsageError(message: "unexpected argument \"\(argument)\"") }
            let body = argument.dropFirst(2)
            let name = String(body.split(separator: "=", maxSplits: 1).first ?? "")
            let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
            if knownFlags.contains(name) {
                guard inline == nil else { throw UsageError(message: "--\(name) takes no value") }
                flags.insert(name)
            } else if options.contains(name) {
                guard let value = inline ?? remaining.popFirst(), inline != nil || !value.hasPrefix("--") else {
                    throw UsageError(message: "--\(name) needs a value")
                }
                values[name] = value
            } else {
                throw UsageError(message: "unknown option --\(name)")
            }
        }
    }

    func required(_ name: String, _ meaning: String) throws -> String {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw UsageError(message: "missing --\(name) \(meaning)")
        }
        return value
    }
}

extension ClientContext {
    /// For a command that takes no options: the exit status when it must stop here (it printed
    /// its usage for `--help`, or an error for anything else), `nil` when it goes on.
    func stopBeforeRunning(_ arguments: [String], usage: String) -> Int32? {
        do {
            guard try ClientArguments(arguments).wantsHelp else { return nil }
            self.print(usage)
            return ExitStatus.success
        } catch {
            return usageError(error, usage: usage)
        }
    }

    /// Says what is wrong with the arguments, then how to use the command.
    func usageError(_ error: any Error, usage: String) -> Int32 {
        let message = (error as? ClientArguments.UsageError)?.message ?? "\(error)"
        printError("error: \(message)\n\n\(usage)")
        return ExitStatus.usage
    }
}
