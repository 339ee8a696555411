import Foundation
import Logging
import NIOConcurrencyHelpers

/// One JSON object per line on standard output (`LOG_FORMAT=json`), for log collectors:
/// `time`, `level`, `label`, `message`, then the metadata's keys (`request-id` on every line
/// of a request, and the ids and IP of audited events).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let write: @Sendable (Data) -> Void

    public init(label: String, level: Logger.Level, write: @escaping @Sendable (Data) -> Void = Self.standardOutput) {
        self.label = label
        self.logLevel = level
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = value.description
        }
        fields["time"] = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        fields["level"] = event.level.rawValue
        fields["label"] = label
        fields["message"] = event.message.description
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        line.append(UInt8(ascii: "\n"))
        write(line)
    }

    /// One line at a time: a long line written by two threads at once must not interleave.
    public static let standardOutput: @Sendable (Data) -> Void = { line in
        outputLock.withLock { FileHandle.standardOutput.write(line) }
    }
    private static let outputLock = NIOLock()
}
