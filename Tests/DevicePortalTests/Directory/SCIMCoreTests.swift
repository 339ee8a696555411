import Foundation
import Testing

@testable import DevicePortal

/// The pure parts of SCIM: filters, paths and PATCH, as tables of cases.
@Suite("SCIM filters, paths and PATCH, as values")
struct SCIMCoreTests {
    @Test(
        "a list filter is userName eq \"…\" (any case, with or without the URN), read as the lowercased email",
        arguments: [
            (#"userName eq "Ada@Example.com""#, "ada@example.com"),
            (#"USERNAME EQ "ada@example.com""#, "ada@example.com"),
            (#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a@b.co""#, "a@b.co"),
            (#"userName eq "quote\"d@b.co""#, #"quote"d@b.co"#),
        ]
    )
    func userNameFilter(filter: String, email: String) throws {
        #expect(try SCIMFilter.userName(filter) == email)  // MUT
    }

    @Test(
        "any other filter is invalidFilter",
        arguments: [
            "", "userName", #"userName ne "a@b.co""#, #"userName co "a""#, #"emails.value eq "a@b.co""#,
            #"userName eq "a@b.co" and active eq true"#, #"userName eq "a@b.co" or userName eq "b@b.co""#,
            #"(userName eq "a@b.co")"#, #"userName eq "unclosed"#, "userName pr", "userName eq bare",
            #"urn:other:schema:userName eq "a@b.co""#, #"displayName eq "Ada""#,
        ]
    )
    func otherFilters(filter: String) {
        #expect(throws: SCIMError.self) { try SCIMFilter.userName(filter) }  // MUT
        #expect((try? SCIMFilter.userName(filter)) == nil)
        do {
            _ = try SCIMFilter.userName(filter)
        } catch let error as SCIMError {
            #expect(error.scimType == "invalidFilter" && error.status == .badRequest)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(
        "paths: attributes, sub-attributes and value filters, in any case; unknown ones invalidPath, server-set ones mutability",
        arguments: [
            ("active", "active", nil, nil),
            ("name.givenName", "name", "givenName", nil),
            ("NAME.GIVENNAME", "name", "givenName", nil),
            ("urn:ietf:params:scim:schemas:core:2.0:User:userName", "userName", nil, nil),
            (#"emails[type eq "work"].value"#, "emails", "value", "type"),
            (#"emails[primary eq true]"#, "emails", nil, "primary"),
            ("externalId", "externalId", nil, nil),
        ] as [(String, String, String?, String?)]
    )
    func paths(text: String, attribute: String, sub: String?, filtered: String?) throws {
        let path = try SCIMPath.parse(text)  // MUT
        #expect(path.attribute.name == attribute)
        #expect(path.subAttribute?.name == sub)
        #expect(path.filter?.first?.0.name == filtered)
    }

    @Test(
        "bad paths",
        arguments: [
            ("title", "invalidPath"), ("name.nickname", "invalidPath"), ("active[value eq true]", "invalidPath"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "invalidPath"),
            ("emails[type eq \"work\"", "invalidPath"), ("emails[kind eq \"work\"].value", "invalidFilter"),
            ("emails[type sw \"w\"].value", "invalidFilter"), ("id", "mutability"), ("meta.created", "mutability"),
            ("", "invalidPath"),
        ]
    )
    func badPaths(text: String, scimType: String) {
        do {
            _ = try SCIMPath.parse(text)  // MUT
            Issue.record("\(text) was accepted")
        } catch let error as SCIMError {
            #expect(error.scimType == scimType, "\(text): \(error.detail)")
            #expect(error.status == .badRequest)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    static let grace: [String: SCIMValue] = [
        "userName": .string("grace@example.com"),
        "active": .bool(true),
        "name": .object(["givenName": .string("Grace"), "familyName": .string("Hopper")]),
        "emails": .array([
            .object(["value": .string("grace@example.com"), "type": .string("work"), "primary": .bool(true)])
        ]),
    ]

    static func patched(_ operations: String) throws -> [String: SCIMValue] {
        let body = try JSONDecoder().decode(
            [String: SCIMValue].self,
            from: Data(
                #"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [\#(operations)]}"#.utf8
            )
        )
        return try SCIMPatch.apply(try SCIMPatch.operations(body), to: SCIMUserDocument(attributes: grace)).attributes
    }

    @Test("the value forms Okta and Entra ID send")
    func directoriesForms() throws {
        // Okta: replace without a path, the value an object.
        #expect(try Self.patched(#"{"op": "replace", "value": {"active": false}}"#)["active"] == .bool(false))
        // Entra ID: capitalised op, a path, booleans as strings.
        #expect(try Self.patched(#"{"op": "Replace", "path": "active", "value": "False"}"#)["active"] == .bool(false))
        #expect(try Self.patched(#"{"op": "Add", "path": "active", "value": "True"}"#)["active"] == .bool(true))
        // Entra ID: the work email by a value filter.
        let emails = try Self.patched(
            #"{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "grace.h@example.com"}"#
        )["emails"]
        #expect(
            emails
                == .array([
                    .object([
                        "value": .string("grace.h@example.com"), "type": .string("work"), "primary": .bool(true),
                    ])
                ])
        )
        // Sub-attribute paths as keys of a path-less value, and the User schema's URN.
        let renamed = try Self.patched(
            #"{"op": "replace", "value": {"name.givenName": "Amazing", "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Amazing Grace"}}"#
        )
        #expect(renamed["name"] == .object(["givenName": .string("Amazing"), "familyName": .string("Hopper")]))
        #expect(renamed["displayName"] == .string("Amazing Grace"))
        // userName, with and without a path.
        #expect(
            try Self.patched(#"{"op": "replace", "path": "userName", "value": "g@example.com"}"#)["userName"]
                == .string("g@example.com")
        )
        #expect(
            try Self.patched(#"{"op": "replace", "value": {"userName": "h@example.com"}}"#)["userName"]
                == .string("h@example.com")
        )
    }

    @Test("add, replace and remove on complex and multi-valued attributes, as RFC 7644 §3.5.2 says")
    func semantics() throws {
        // Replacing a complex attribute keeps the sub-attributes it does not name.
        let name = try Self.patched(#"{"op": "replace", "path": "name", "value": {"givenName": "G"}}"#)["name"]
        #expect(name == .object(["givenName": .string("G"), "familyName": .string("Hopper")]))
        // Adding an email appends it; a new primary takes primary from the others.
        let added = try Self.patched(
            #"{"op": "add", "path": "emails", "value": [{"value": "home@example.com", "type": "home", "primary": true}]}"#
        )["emails"]
        #expect(
            added
                == .array([
                    .object(["value": .string("grace@example.com"), "type": .string("work")]),
                    .object(["value": .string("home@example.com"), "type": .string("home"), "primary": .bool(true)]),
                ])
        )
        // Removing by a filter, a sub-attribute, a whole attribute.
        #expect(try Self.patched(#"{"op": "remove", "path": "emails[type eq \"work\"]"}"#)["emails"] == nil)
        #expect(
            try Self.patched(#"{"op": "remove", "path": "name.familyName"}"#)["name"]
                == .object(["givenName": .string("Grace")])
        )
        #expect(try Self.patched(#"{"op": "remove", "path": "name"}"#)["name"] == nil)
        // Add through a filter that matches nothing makes the value.
        let home = try Self.patched(
            #"{"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@example.com"}"#
        )
        #expect(
            home["emails"]
                == .array([
                    .object(["value": .string("grace@example.com"), "type": .string("work"), "primary": .bool(true)]),
                    .object(["value": .string("h@example.com"), "type": .string("home")]),
                ])
        )
        // Attributes the portal does not keep are ignored in a path-less value.
        #expect(
            try Self.patched(#"{"op": "add", "value": {"title": "Rear Admiral", "nickName": "Amazing"}}"#) == Self.grace
        )
    }

    @Test(
        "operations that are refused, each with its scimType",
        arguments: [
            (#"{"op": "move", "path": "active", "value": false}"#, "invalidSyntax"),
            (#"{"path": "active", "value": false}"#, "invalidSyntax"),
            (#"{"op": "replace", "path": "active"}"#, "invalidSyntax"),
            (#"{"op": "remove"}"#, "noTarget"),
            (#"{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@example.com"}"#, "noTarget"),
            (#"{"op": "replace", "path": "title", "value": "x"}"#, "invalidPath"),
            (#"{"op": "replace", "path": "id", "value": "x"}"#, "mutability"),
            (#"{"op": "remove", "path": "userName"}"#, "mutability"),
            (#"{"op": "remove", "path": "active"}"#, "mutability"),
            (#"{"op": "replace", "path": "active", "value": "maybe"}"#, "invalidValue"),
            (#"{"op": "replace", "path": "name", "value": "Grace"}"#, "invalidValue"),
            (#"{"op": "replace", "path": "displayName", "value": 7}"#, "invalidValue"),
            (#"{"op": "replace", "path": "displayName", "value": "a\u0007b"}"#, "invalidValue"),
            (#"{"op": "replace", "value": false}"#, "invalidValue"),
            (#""replace""#, "invalidSyntax"),
        ]
    )
    func refused(operation: String, scimType: String) {
        do {
            _ = try Self.patched(operation)  // MUT
            Issue.record("\(operation) was accepted")
        } catch let error as SCIMError {
            #expect(error.scimType == scimType, "\(operation): \(error.detail)")
            #expect(error.status == .badRequest)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a PATCH body must be a PatchOp message with Operations")
    func patchOpMessage() {
        for body in [#"{"Operations": []}"#, #"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}"#] {
            let parsed = try? JSONDecoder().decode([String: SCIMValue].self, from: Data(body.utf8))
            #expect(throws: SCIMError.self) { try SCIMPatch.operations(parsed ?? [:]) }
        }
    }

    @Test("a User document needs a userName that is an email, and at most one primary email")
    func documentRules() throws {
        let cases: [([String: SCIMValue], Bool)] = [
            (["userName": .string("Ada@Example.com")], true),
            (["userName": .string("not an email")], false),
            ([:], false),
            (
                [
                    "userName": .string("a@example.com"),
                    "emails": .array([
                        .object(["value": .string("a@example.com"), "primary": .bool(true)]),
                        .object(["value": .string("b@example.com"), "primary": .bool(true)]),
                    ]),
                ], false
            ),
            (["userName": .string("a@example.com"), "emails": .array([.object(["type": .string("work")])])], false),
        ]
        for (attributes, valid) in cases {
            let validated = try? SCIMUserDocument(attributes: attributes).validated()  // MUT
            #expect((validated != nil) == valid, "\(attributes)")
        }
        #expect(
            try SCIMUserDocument(attributes: ["userName": .string("Ada@Example.com")]).validated().email
                == "ada@example.com"
        )
    }
}
