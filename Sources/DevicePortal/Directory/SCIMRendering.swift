import Foundation
import Vapor

/// Resources as SCIM writes them (RFC 7643): the User, `meta`, the ListResponse, and the
/// `attributes`/`excludedAttributes` selection of RFC 7644 §3.4.2.5.
enum SCIMRendering {
    static func base(_ req: Request) -> String {
        req.application.publicBaseURL + "/scim/v2"
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func meta(
        _ resourceType: String,
        location: String,
        created: Date? = nil,
        lastModified: Date? = nil
    )
        -> SCIMValue
    {
        var fields: [String: SCIMValue] = ["resourceType": .string(resourceType), "location": .string(location)]
        if let created { fields["created"] = .string(timestamp(created)) }
        if let lastModified { fields["lastModified"] = .string(timestamp(lastModified)) }
        return .object(fields)
    }

    /// A User: what the directory sees, with the fields the server sets.
    static func user(_ record: DirectoryProvisioning.Record, _ req: Request) -> [String: SCIMValue] {
        var fields = record.attributes
        let id = record.userID.uuidString.lowercased()
        fields["schemas"] = .array([.string(SCIMSchema.user)])
        fields["id"] = .string(id)
        fields["userName"] = .string(record.email)
        fields["active"] = .bool(record.active)
        fields["meta"] = meta(
            "User",
            location: base(req) + "/Users/" + id,
            created: record.created,
            lastModified: record.lastModified
        )
        return fields
    }

    static func list(_ resources: [SCIMValue], total: Int, startIndex: Int) -> SCIMValue {
        .object([
            "schemas": .array([.string(SCIMSchema.listResponse)]),
            "totalResults": .number(Double(total)),
            "startIndex": .number(Double(startIndex)),
            "itemsPerPage": .number(Double(resources.count)),
            "Resources": .array(resources),
        ])
    }

    /// What `attributes` or `excludedAttributes` leave of a resource; `id` and `schemas` always stay.
    static func select(_ resource: [String: SCIMValue], _ req: Request) throws -> [String: SCIMValue] {
        let always: Set<String> = ["id", "schemas"]
        if let wanted = try paths(req, "attributes") {
            var kept: [String: SCIMValue] = resource.filter { always.contains($0.key) }
            for (name, sub) in wanted {
                guard let key = resource.keys.first(where: { $0.lowercased() == name }), let value = resource[key]
                else { continue }
                if let sub, case .object(let object) = value {
                    var narrowed = kept[key]?.objectValue ?? [:]
                    if let subKey = object.keys.first(where: { $0.lowercased() == sub }) {
                        narrowed[subKey] = object[subKey]
                    }
                    kept[key] = .object(narrowed)
                } else if let sub, case .array(let elements) = value {
                    kept[key] = .array(
                        elements.map { element in
                            .object(element.objectValue?.filter { $0.key.lowercased() == sub } ?? [:])
                        }
                    )
                } else {
                    kept[key] = value
                }
            }
            return kept
        }
        var kept = resource
        for (name, sub) in try paths(req, "excludedAttributes") ?? [] {
            guard let key = resource.keys.first(where: { $0.lowercased() == name }), !always.contains(key) else {
                continue
            }
            if let sub, case .object(var object) = kept[key] {
                object = object.filter { $0.key.lowercased() != sub }
                kept[key] = .object(object)
            } else if sub == nil {
                kept[key] = nil
            }
        }
        return kept
    }

    /// `a,b.c` as lowercased (attribute, sub-attribute) pairs, without the User schema's URN.
    private static func paths(_ req: Request, _ parameter: String) throws -> [(String, String?)]? {
        guard let text = try SCIMQuery.parameter(req, parameter), !text.isEmpty else { return nil }
        return text.split(separator: ",").compactMap { item in
            guard let path = SCIMSchema.withoutUserURN(item.trimmingCharacters(in: .whitespaces)) else { return nil }
            let parts = path.lowercased().split(separator: ".", maxSplits: 1).map(String.init)
            guard let first = parts.first else { return nil }
            return (first, parts.count > 1 ? parts[1] : nil)
        }
    }
}
