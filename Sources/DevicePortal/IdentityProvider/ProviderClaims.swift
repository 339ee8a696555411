import Foundation
import JWTKit

/// One JSON value of a JWT's claims.
enum ClaimValue: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([ClaimValue])
    case object([String: ClaimValue])
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ClaimValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ClaimValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}

/// A provider's JWT claims, read by name (or by a path into nested objects) rather than into
/// a fixed type: each provider names its org claim its own way. Time and audience are checked
/// by `ProviderJWT`, which knows the clock and what to expect.
struct ProviderClaims: JWTPayload {
    let values: [String: ClaimValue]

    init(_ values: [String: ClaimValue]) { self.values = values }

    init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: ClaimValue].self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {}

    func string(_ name: String) -> String? {
        if case .string(let value) = values[name] { return value }
        return nil
    }

    /// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
    func strings(_ name: String) -> [String] {
        switch values[name] {
        case .string(let value): [value]
        case .array(let items): items.compactMap { if case .string(let value) = $0 { value } else { nil } }
        default: []
        }
    }

    /// A NumericDate: seconds since 1970, up to the end of year 9999 (beyond, a date is no use,
    /// and whole seconds of it would not fit an `Int` where answers print it).
    func date(_ name: String) -> Date? {
        guard case .number(let seconds) = values[name], (0...Self.latestDate).contains(seconds) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    private static let latestDate: Double = 253_402_300_799

    /// `email_verified` is a boolean; some providers send the string "true".
    func flag(_ name: String) -> Bool {
        switch values[name] {
        case .bool(let value): value
        case .string(let value): value == "true"
        default: false
        }
    }

    /// The text at a path of claim names (`["o", "id"]` reads `{"o": {"id": …}}`): a string, or
    /// a whole number written as one, since some providers number their organizations.
    func text(at path: [String]) -> String? {
        guard let first = path.first else { return nil }
        var value = values[first]
        for name in path.dropFirst() {
            guard case .object(let object) = value else { return nil }
            value = object[name]
        }
        switch value {
        case .string(let text): return text
        case .number(let number) where number.rounded() == number && abs(number) < 1e15: return String(Int64(number))
        default: return nil
        }
    }
}
