import Foundation

/// A JSON value as SCIM documents hold it: resources, PATCH operations and their values are
/// read into this and worked on as values, so the rules over them are pure functions.
enum SCIMValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([SCIMValue])
    case object([String: SCIMValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([SCIMValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: SCIMValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 {
                try container.encode(Int64(number))
            } else {
                try container.encode(number)
            }
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let object): try container.encode(object)
        }
    }

    var objectValue: [String: SCIMValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    /// A boolean, also as the strings "true" and "False" that Entra ID sends in PATCH values.
    var boolValue: Bool? {
        switch self {
        case .bool(let bool): bool
        case .string(let text) where text.lowercased() == "true": true
        case .string(let text) where text.lowercased() == "false": false
        default: nil
        }
    }

    /// Whether any key or string holds NUL, which no attribute takes and PostgreSQL cannot store.
    var holdsNUL: Bool {
        switch self {
        case .string(let text): text.containsNUL
        case .array(let array): array.contains(where: \.holdsNUL)
        case .object(let object): object.contains { $0.key.containsNUL || $0.value.holdsNUL }
        default: false
        }
    }
}

extension [String: SCIMValue] {
    /// The value of `name`, matched without regard to case (RFC 7643 §2.1).
    func caseInsensitive(_ name: String) -> SCIMValue? {
        let lowered = name.lowercased()
        return first { $0.key.lowercased() == lowered }?.value
    }
}
