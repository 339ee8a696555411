/// The User attributes the portal keeps, as RFC 7643 §7 describes them. `/Schemas` shows
/// this, and requests are read against it: names matched without regard to case, unknown
/// attributes of a body ignored, unknown PATCH paths refused.
struct SCIMAttribute: Sendable {
    enum Kind: String, Sendable {
        case string, boolean, complex
    }

    let name: String
    let kind: Kind
    var multiValued = false
    var required = false
    var uniqueness = "none"
    var subAttributes: [SCIMAttribute] = []
    var canonicalValues: [String] = []
    let description: String

    func subAttribute(_ name: String) -> SCIMAttribute? {
        let lowered = name.lowercased()
        return subAttributes.first { $0.name.lowercased() == lowered }
    }

    /// As `/Schemas` shows it.
    var definition: SCIMValue {
        var fields: [String: SCIMValue] = [
            "name": .string(name),
            "type": .string(kind.rawValue),
            "multiValued": .bool(multiValued),
            "description": .string(description),
            "required": .bool(required),
            "mutability": .string("readWrite"),
            "returned": .string("default"),
        ]
        if kind == .string {
            fields["caseExact"] = .bool(false)
            fields["uniqueness"] = .string(uniqueness)
        }
        if !canonicalValues.isEmpty { fields["canonicalValues"] = .array(canonicalValues.map(SCIMValue.string)) }
        if kind == .complex { fields["subAttributes"] = .array(subAttributes.map(\.definition)) }
        return .object(fields)
    }
}

enum SCIMSchema {
    static let user = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let listResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    static let patchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

    static let userAttributes: [SCIMAttribute] = [
        SCIMAttribute(
            name: "userName",
            kind: .string,
            required: true,
            uniqueness: "server",
            description: "The member's email address, with which they sign in; unique, any case."
        ),
        SCIMAttribute(
            name: "name",
            kind: .complex,
            subAttributes: [
                SCIMAttribute(name: "formatted", kind: .string, description: "The full name, as displayed."),
                SCIMAttribute(name: "familyName", kind: .string, description: "The family name."),
                SCIMAttribute(name: "givenName", kind: .string, description: "The given name."),
            ],
            description: "The member's name; the portal shows the formatted name (or the given and family names)."
        ),
        SCIMAttribute(name: "displayName", kind: .string, description: "The name displayed for the member."),
        SCIMAttribute(
            name: "emails",
            kind: .complex,
            multiValued: true,
            subAttributes: [
                SCIMAttribute(name: "value", kind: .string, description: "An email address."),
                SCIMAttribute(
                    name: "type",
                    kind: .string,
                    canonicalValues: ["work", "home", "other"],
                    description: "What kind of address it is."
                ),
                SCIMAttribute(name: "primary", kind: .boolean, description: "The preferred address; at most one."),
            ],
            description: "The directory's email addresses of the member; the portal signs them in with userName."
        ),
        // Required: every User has an answer (the membership); a POST without it is taken as true.
        SCIMAttribute(
            name: "active",
            kind: .boolean,
            required: true,
            description:
                "Whether the person is a member of the organization. false removes the membership and revokes their tokens in it; true makes a new membership with the organization's default role."
        ),
    ]

    /// `externalId` is a common attribute (RFC 7643 §3.1): every resource may carry it.
    static let externalID = SCIMAttribute(name: "externalId", kind: .string, description: "The directory's own id.")

    /// Attributes the server sets and a request cannot change.
    static let readOnly: Set<String> = ["id", "meta", "schemas"]

    /// The attribute of a name, without regard to case; `externalId` included.
    static func attribute(_ name: String) -> SCIMAttribute? {
        let lowered = name.lowercased()
        if lowered == "externalid" { return externalID }
        return userAttributes.first { $0.name.lowercased() == lowered }
    }

    /// A name with the User schema's URN in front (`urn:…:User:userName`) without it.
    static func withoutUserURN(_ name: String) -> String? {
        let prefix = user.lowercased() + ":"
        guard name.lowercased().hasPrefix("urn:") else { return name }
        guard name.lowercased().hasPrefix(prefix) else { return nil }
        return String(name.dropFirst(prefix.count))
    }
}
