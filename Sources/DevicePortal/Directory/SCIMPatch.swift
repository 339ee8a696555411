/// PATCH (RFC 7644 §3.5.2) as a pure function over a User document: the operations are read
/// and applied to a copy, in order; any refusal leaves the stored User as it was. Operation
/// names in any case ("Replace", as Entra ID sends them), with or without a `path`.
enum SCIMPatch {
    enum Op: String, Sendable {
        case add, remove, replace
    }

    struct Operation: Sendable {
        let op: Op
        let path: SCIMPath?
        let value: SCIMValue?
    }

    /// A PatchOp message: its `schemas` and `Operations`.
    static func operations(_ body: [String: SCIMValue]) throws -> [Operation] {
        guard case .array(let schemas) = body.caseInsensitive("schemas"), schemas.contains(.string(SCIMSchema.patchOp))
        else {
            throw SCIMError.invalidSyntax("A PATCH body is a PatchOp message: schemas must hold \(SCIMSchema.patchOp).")
        }
        guard case .array(let items) = body.caseInsensitive("Operations") else {
            throw SCIMError.invalidSyntax("A PatchOp message needs an Operations array.")
        }
        return try items.map { item in
            guard let fields = item.objectValue else { throw SCIMError.invalidSyntax("Each operation is an object.") }
            guard let name = fields.caseInsensitive("op")?.stringValue, let op = Op(rawValue: name.lowercased()) else {
                throw SCIMError.invalidSyntax(#"Each operation's "op" is add, remove or replace."#)
            }
            var path: SCIMPath?
            if let pathValue = fields.caseInsensitive("path"), pathValue != .null {
                guard let text = pathValue.stringValue else { throw SCIMError.invalidPath("path must be a string.") }
                path = try SCIMPath.parse(text)
            }
            let value = fields.caseInsensitive("value")
            if op == .remove, path == nil {
                throw SCIMError.noTarget("A remove operation needs a path.")
            }
            if op != .remove, value == nil {
                throw SCIMError.invalidSyntax("An \(op.rawValue) operation needs a value.")
            }
            return Operation(op: op, path: path, value: value)
        }
    }

    static func apply(_ operations: [Operation], to document: SCIMUserDocument) throws -> SCIMUserDocument {
        var attributes = document.attributes
        for operation in operations {
            if let path = operation.path {
                try apply(operation.op, path, operation.value, to: &attributes)
            } else {
                // No path: the value is an object of attributes (or sub-attribute paths, as
                // "name.givenName"), each applied as if it were the path. Unknown ones are ignored.
                guard let object = operation.value?.objectValue else {
                    throw SCIMError.invalidValue("Without a path, the value must be an object of attributes.")
                }
                for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                    guard let path = try? SCIMPath.parse(key) else { continue }
                    try apply(operation.op, path, value, to: &attributes)
                }
            }
        }
        return SCIMUserDocument(attributes: attributes)
    }

    private static func apply(
        _ op: Op,
        _ path: SCIMPath,
        _ value: SCIMValue?,
        to attributes: inout [String: SCIMValue]
    )
        throws
    {
        let attribute = path.attribute
        if attribute.multiValued {
            try applyMultiValued(op, path, value, to: &attributes)
            return
        }
        if op == .remove, ["userName", "active"].contains(attribute.name) {
            throw SCIMError.mutability("\(attribute.name) cannot be removed; replace it instead.")
        }
        if let sub = path.subAttribute {
            var object = attributes[attribute.name]?.objectValue ?? [:]
            object[sub.name] = op == .remove ? nil : try value.flatMap { try SCIMUserDocument.conform($0, to: sub) }
            attributes[attribute.name] = object.isEmpty ? nil : .object(object)
            return
        }
        switch op {
        case .remove:
            attributes[attribute.name] = nil
        case .add, .replace:
            let conformed = try value.flatMap { try SCIMUserDocument.conform($0, to: attribute) }
            if attribute.kind == .complex, case .object(let new)? = conformed {
                // A complex value replaces the sub-attributes it names and leaves the others (§3.5.2.3).
                var object = attributes[attribute.name]?.objectValue ?? [:]
                object.merge(new) { $1 }
                attributes[attribute.name] = .object(object)
            } else {
                attributes[attribute.name] = conformed
            }
        }
    }

    private static func applyMultiValued(
        _ op: Op,
        _ path: SCIMPath,
        _ value: SCIMValue?,
        to attributes: inout [String: SCIMValue]
    ) throws {
        let attribute = path.attribute
        var elements: [[String: SCIMValue]] = []
        if case .array(let array) = attributes[attribute.name] { elements = array.compactMap(\.objectValue) }
        let selected = elements.indices.filter { path.selects(elements[$0]) }
        switch (op, path.filter != nil, path.subAttribute) {
        case (.remove, _, nil):
            if path.filter != nil {
                elements = elements.enumerated().filter { !selected.contains($0.offset) }.map(\.element)
            } else if case .array(let removed)? = value {
                // Entra ID removes values by naming them.
                let values = removed.compactMap { $0.objectValue?["value"]?.stringValue?.lowercased() }
                elements.removeAll { values.contains($0["value"]?.stringValue?.lowercased() ?? "") }
            } else {
                elements = []
            }
        case (.remove, _, let sub?):
            for index in selected { elements[index][sub.name] = nil }
        case (_, false, nil):
            let new = try value.flatMap { try SCIMUserDocument.conform($0, to: attribute) }
            let added: [[String: SCIMValue]]
            if case .array(let array)? = new { added = array.compactMap(\.objectValue) } else { added = [] }
            if op == .replace { elements = [] }
            if added.contains(where: { $0["primary"]?.boolValue == true }) {
                clearPrimary(in: &elements, except: [])
            }
            elements += added
        case (_, true, nil):
            guard
                let object = try value.flatMap({ try SCIMUserDocument.conform($0, to: attribute, element: true) })?
                    .objectValue
            else { throw SCIMError.invalidValue("The value for \(attribute.name)[…] must be an object.") }
            if object["primary"]?.boolValue == true { clearPrimary(in: &elements, except: selected) }
            if selected.isEmpty {
                guard op == .add else { throw SCIMError.noTarget("No value of \(attribute.name) matches the filter.") }
                elements.append(filterFields(path).merging(object) { $1 })
            } else {
                for index in selected {
                    elements[index] = op == .add ? elements[index].merging(object) { $1 } : object
                }
            }
        case (_, let filtered, let sub?):
            let conformed = try value.flatMap { try SCIMUserDocument.conform($0, to: sub) }
            if sub.name == "primary", conformed?.boolValue == true { clearPrimary(in: &elements, except: selected) }
            if selected.isEmpty {
                guard op == .add || !filtered else {
                    throw SCIMError.noTarget("No value of \(attribute.name) matches the filter.")
                }
                var element = filterFields(path)
                element[sub.name] = conformed
                elements.append(element)
            } else {
                for index in selected { elements[index][sub.name] = conformed }
            }
        }
        elements.removeAll(where: \.isEmpty)
        attributes[attribute.name] = elements.isEmpty ? nil : .array(elements.map(SCIMValue.object))
    }

    /// A value made primary takes the flag from the others (RFC 7644 §3.5.2), whichever path set it.
    private static func clearPrimary(in elements: inout [[String: SCIMValue]], except kept: [Int]) {
        for index in elements.indices where !kept.contains(index) { elements[index]["primary"] = nil }
    }

    /// The sub-attributes a filter pins (`type eq "work"`), for a value it makes.
    private static func filterFields(_ path: SCIMPath) -> [String: SCIMValue] {
        var fields: [String: SCIMValue] = [:]
        for (sub, value) in path.filter ?? [] { fields[sub.name] = value }
        return fields
    }
}
