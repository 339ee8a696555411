import Foundation

/// The writable part of a User as the directory sends it, keyed by the schema's own names:
/// `userName`, `active`, `externalId`, `name`, `displayName`, `emails`. Reading a body into it
/// matches names without regard to case, ignores attributes the portal does not keep (an
/// extension's, `id`, `meta`), and checks each value's type and text.
struct SCIMUserDocument: Equatable, Sendable {
    var attributes: [String: SCIMValue]

    /// The longest text an attribute takes, in Unicode scalars (and four bytes each).
    static let maxText = 256
    static let maxEmails = 10

    /// A POST or PUT body.
    static func read(_ body: [String: SCIMValue]) throws -> SCIMUserDocument {
        var attributes: [String: SCIMValue] = [:]
        for (key, value) in body {
            guard let name = SCIMSchema.withoutUserURN(key), let attribute = SCIMSchema.attribute(name) else {
                continue
            }
            if let conformed = try conform(value, to: attribute) { attributes[attribute.name] = conformed }
        }
        return SCIMUserDocument(attributes: attributes)
    }

    /// `value` as the attribute takes it; `nil` for null or an empty value (unassigned).
    static func conform(_ value: SCIMValue, to attribute: SCIMAttribute, element: Bool = false) throws -> SCIMValue? {
        if value == .null { return nil }
        if attribute.multiValued && !element {
            let items: [SCIMValue]
            switch value {
            case .array(let array): items = array
            case .object: items = [value]
            default: throw SCIMError.invalidValue("\(attribute.name) must be an array of objects.")
            }
            let conformed = try items.compactMap { try conform($0, to: attribute, element: true) }
            guard conformed.count <= maxEmails else {
                throw SCIMError.invalidValue("\(attribute.name) holds at most \(maxEmails) values.")
            }
            return conformed.isEmpty ? nil : .array(conformed)
        }
        switch attribute.kind {
        case .string:
            guard let text = value.stringValue else {
                throw SCIMError.invalidValue("\(attribute.name) must be a string.")
            }
            guard text.fits(maxText), !text.containsControlCharacters else {
                throw SCIMError.invalidValue(
                    "\(attribute.name) must be at most \(maxText) characters, without control characters."
                )
            }
            return text.isEmpty ? nil : .string(text)
        case .boolean:
            guard let bool = value.boolValue else {
                throw SCIMError.invalidValue("\(attribute.name) must be a boolean.")
            }
            return .bool(bool)
        case .complex:
            guard let object = value.objectValue else {
                throw SCIMError.invalidValue("\(attribute.name) must be an object.")
            }
            var fields: [String: SCIMValue] = [:]
            for (key, subValue) in object {
                guard let sub = attribute.subAttribute(key) else { continue }
                if let conformed = try conform(subValue, to: sub) { fields[sub.name] = conformed }
            }
            return fields.isEmpty ? nil : .object(fields)
        }
    }

    /// The rules of a whole User, once a body is read or a PATCH applied: a userName that is an
    /// email, and at most one primary email.
    func validated() throws -> Validated {
        guard let userName = attributes["userName"]?.stringValue else {
            throw SCIMError.invalidValue("userName is required: the member's email address.")
        }
        let email = User.normalize(email: userName)
        guard User.isValid(email: email) else {
            throw SCIMError.invalidValue("userName must be an email address: it is how the member signs in.")
        }
        if case .array(let emails) = attributes["emails"] {
            // Also after PATCH adds, which each stay under the limit but add up.
            guard emails.count <= Self.maxEmails else {
                throw SCIMError.invalidValue("emails holds at most \(Self.maxEmails) values.")
            }
            guard emails.allSatisfy({ $0.objectValue?["value"] != nil }) else {
                throw SCIMError.invalidValue("Every email needs a value.")
            }
            guard emails.filter({ $0.objectValue?["primary"]?.boolValue == true }).count <= 1 else {
                throw SCIMError.invalidValue("At most one email can be primary.")
            }
        }
        var kept = attributes
        kept["userName"] = nil
        kept["active"] = nil
        return Validated(email: email, active: attributes["active"]?.boolValue, kept: kept)
    }

    struct Validated: Sendable {
        /// The account's email, lowercased.
        let email: String
        /// `nil` when the document does not say.
        let active: Bool?
        /// What the portal keeps for the directory: `externalId`, `name`, `displayName`, `emails`.
        let kept: [String: SCIMValue]

        /// The account's name as the directory gives it: formatted, else given and family, else displayName.
        var accountName: String? {
            let name = kept["name"]?.objectValue
            if let formatted = name?["formatted"]?.stringValue { return formatted.clipped(to: 100) }
            let parts = [name?["givenName"]?.stringValue, name?["familyName"]?.stringValue].compactMap { $0 }
            if !parts.isEmpty { return parts.joined(separator: " ").clipped(to: 100) }
            return kept["displayName"]?.stringValue?.clipped(to: 100)
        }
    }
}
