/// An API token. Printing, logging or dumping it shows no secret: read `value` to use it.
public struct AccessToken: Hashable, Sendable, Codable {
    /// The raw bearer token (64 lowercase hex characters for DevicePortal).
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    public init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    /// The `Authorization` header value.
    var bearerHeader: String { "Bearer \(value)" }
}

extension AccessToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "AccessToken(<redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
