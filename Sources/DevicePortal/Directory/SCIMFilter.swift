import Foundation

/// The filters the portal understands (RFC 7644 §3.4.2.2), parsed as values: a list takes
/// `userName eq "…"` only; a PATCH path's value selection takes `eq` comparisons joined by `and`.
enum SCIMFilter {
    struct Comparison: Equatable, Sendable {
        /// As written, without the User schema's URN.
        let attribute: String
        let value: SCIMValue
    }

    /// `userName eq "…"` → the email it names, lowercased (userName is case-insensitive).
    static func userName(_ text: String) throws -> String {
        let comparisons = try parse(text)
        guard comparisons.count == 1, let comparison = comparisons.first,
            comparison.attribute.lowercased() == "username", let value = comparison.value.stringValue
        else {
            throw SCIMError.invalidFilter(#"The only filter supported is userName eq "<email>"."#)
        }
        return User.normalize(email: value)
    }

    /// `attr eq value [and attr eq value]…`.
    static func parse(_ text: String) throws -> [Comparison] {
        let tokens = try tokenize(text)
        var comparisons: [Comparison] = []
        var index = 0
        while index < tokens.count {
            guard index + 2 < tokens.count, case .word(let attribute) = tokens[index],
                case .word(let op) = tokens[index + 1]
            else { throw SCIMError.invalidFilter("The filter \"\(text)\" could not be read.") }
            guard op.lowercased() == "eq" else {
                throw SCIMError.invalidFilter("The operator \"\(op)\" is not supported: only eq is.")
            }
            guard let name = SCIMSchema.withoutUserURN(attribute) else {
                throw SCIMError.invalidFilter("The attribute \"\(attribute)\" is not one of the User schema's.")
            }
            comparisons.append(Comparison(attribute: name, value: try literal(tokens[index + 2], in: text)))
            index += 3
            if index < tokens.count {
                guard case .word(let joiner) = tokens[index], joiner.lowercased() == "and", index + 1 < tokens.count
                else { throw SCIMError.invalidFilter("Only comparisons joined by and are supported.") }
                index += 1
            }
        }
        guard !comparisons.isEmpty else { throw SCIMError.invalidFilter("The filter is empty.") }
        return comparisons
    }

    private enum Token: Equatable {
        case word(String)
        case quoted(String)
    }

    private static func literal(_ token: Token, in text: String) throws -> SCIMValue {
        switch token {
        case .quoted(let string): return .string(string)
        case .word(let word):
            switch word.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .null
            default:
                guard let number = Double(word) else {
                    throw SCIMError.invalidFilter("The value \"\(word)\" in \"\(text)\" is not a JSON literal.")
                }
                return .number(number)
            }
        }
    }

    /// Words and JSON strings (with their escapes); parentheses and brackets are not supported.
    private static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == " " || scalar == "\t" {
                index += 1
            } else if scalar == "\"" {
                var end = index + 1
                while end < scalars.count, scalars[end] != "\"" { end += scalars[end] == "\\" ? 2 : 1 }
                guard end < scalars.count else {
                    throw SCIMError.invalidFilter("A string in the filter is not closed.")
                }
                let json = String(String.UnicodeScalarView(scalars[index...end]))
                guard let decoded = try? JSONDecoder().decode([String].self, from: Data("[\(json)]".utf8)).first
                else { throw SCIMError.invalidFilter("A string in the filter is not valid JSON.") }
                tokens.append(.quoted(decoded))
                index = end + 1
            } else if "()[]".unicodeScalars.contains(scalar) {
                throw SCIMError.invalidFilter("Grouping and value paths are not supported in this filter.")
            } else {
                var end = index
                while end < scalars.count, !" \t\"()[]".unicodeScalars.contains(scalars[end]) { end += 1 }
                tokens.append(.word(String(String.UnicodeScalarView(scalars[index..<end]))))
                index = end
            }
        }
        return tokens
    }
}
