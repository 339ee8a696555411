import Foundation

/// A PATCH operation's `path` (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]` or
/// `attr[filter].sub`, optionally behind the User schema's URN, resolved against the schema.
struct SCIMPath: Sendable {
    let attribute: SCIMAttribute
    /// The value selection of a multi-valued attribute: sub-attribute and the value it equals.
    let filter: [(SCIMAttribute, SCIMValue)]?
    let subAttribute: SCIMAttribute?

    static func parse(_ text: String) throws -> SCIMPath {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let path = SCIMSchema.withoutUserURN(trimmed), !path.isEmpty else {
            throw SCIMError.invalidPath("The path \"\(text)\" names no attribute of the User schema.")
        }
        var name = path
        var filterText: String?
        var subName: String?
        if let open = path.firstIndex(of: "[") {
            guard let close = path.lastIndex(of: "]"), close > open else {
                throw SCIMError.invalidPath("The path \"\(text)\" has an unclosed [.")
            }
            name = String(path[..<open])
            filterText = String(path[path.index(after: open)..<close])
            let rest = path[path.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix("."), rest.count > 1 else {
                    throw SCIMError.invalidPath("The path \"\(text)\" could not be read.")
                }
                subName = String(rest.dropFirst())
            }
        } else if let dot = path.firstIndex(of: ".") {
            name = String(path[..<dot])
            subName = String(path[path.index(after: dot)...])
        }
        if SCIMSchema.readOnly.contains(name.lowercased()) || name.lowercased() == "schemas" {
            throw SCIMError.mutability("\(name) is set by the server and cannot be changed.")
        }
        guard let attribute = SCIMSchema.attribute(name) else {
            throw SCIMError.invalidPath("The path \"\(text)\" names no attribute of the User schema.")
        }
        var subAttribute: SCIMAttribute?
        if let subName {
            guard let sub = attribute.subAttribute(subName) else {
                throw SCIMError.invalidPath("\(attribute.name) has no sub-attribute \"\(subName)\".")
            }
            subAttribute = sub
        }
        var filter: [(SCIMAttribute, SCIMValue)]?
        if let filterText {
            guard attribute.multiValued else {
                throw SCIMError.invalidPath(
                    "Only a multi-valued attribute takes a [filter]; \(attribute.name) is not one."
                )
            }
            filter = try SCIMFilter.parse(filterText).map { comparison in
                guard let sub = attribute.subAttribute(comparison.attribute) else {
                    throw SCIMError.invalidFilter("\(attribute.name) has no sub-attribute \"\(comparison.attribute)\".")
                }
                return (sub, comparison.value)
            }
        }
        return SCIMPath(attribute: attribute, filter: filter, subAttribute: subAttribute)
    }

    /// Whether an element of the multi-valued attribute is selected by the filter.
    func selects(_ element: [String: SCIMValue]) -> Bool {
        guard let filter else { return true }
        return filter.allSatisfy { sub, expected in
            let actual = element[sub.name] ?? .null
            switch (actual, expected) {
            case (.string(let a), .string(let b)): return a.lowercased() == b.lowercased()
            case (_, .bool(let b)): return (actual.boolValue ?? false) == b
            default: return actual == expected
            }
        }
    }
}
