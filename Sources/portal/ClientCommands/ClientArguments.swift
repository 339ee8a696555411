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
    enum Parsed {
        /// Go on with these arguments.
        case run(ClientArguments)
        /// Stop with this exit status: the usage was printed for `--help`, or an error for anything else.
        case stop(Int32)
    }

    /// The arguments of a command, or how it stops before running.
    func parse(
        _ arguments: [String],
        options: Set<String> = [],
        flags: Set<String> = [],
        usage: String
    ) -> Parsed {
        do {
            let parsed = try ClientArguments(arguments, options: options, flags: flags)
            guard parsed.wantsHelp else { return .run(parsed) }
            self.print(usage)
            return .stop(ExitStatus.success)
        } catch {
            return .stop(usageError(error, usage: usage))
        }
    }

    /// Says what is wrong with the arguments, then how to use the command.
    func usageError(_ error: any Error, usage: String) -> Int32 {
        let message = (error as? ClientArguments.UsageError)?.message ?? "\(error)"
        printError("error: \(message)\n\n\(usage)")
        return ExitStatus.usage
    }
}
