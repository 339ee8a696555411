import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// `/scim/v2/Users`: a User is a member of the directory token's organization.
@Suite("SCIM Users: create, read, replace, PATCH, delete")
struct SCIMUsersTests {
    @Test("POST makes the account and the membership with the org's default role; 201 with Location and meta")
    func create() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)

            let response = try await directory.create("Grace@Example.com")  // MUT
            #expect(response.status == .created)
            let grace = try response.scimUser()
            #expect(grace.userName == "grace@example.com")
            #expect(grace.active)
            #expect(grace.schemas == ["urn:ietf:params:scim:schemas:core:2.0:User"])
            #expect(grace.name == .init(formatted: nil, givenName: "Grace", familyName: "Hopper"))
            #expect(grace.emails == [.init(value: "Grace@Example.com", type: "work", primary: true)])
            #expect(grace.meta.resourceType == "User")
            #expect(grace.meta.location.hasSuffix("/scim/v2/Users/\(grace.id)"))
            #expect(response.headers.first(name: .location) == grace.meta.location)
            #expect(ISO8601DateFormatter.withFractions.date(from: grace.meta.created) != nil)

            let user = try #require(try await User.find(email: "grace@example.com", on: app.db))
            #expect(user.id?.uuidString.lowercased() == grace.id)
            #expect(user.name == "Grace Hopper")
            let membership = try #require(
                try await Membership.find(userID: user.requireID(), organizationID: acme.requireID(), on: app.db)
            )
            #expect(membership.role.name == "member")
            let added = try await AuditEvent.query(on: app.db).filter(\.$kind == .memberAdded)
                .filter(\.$subjectUserID == user.id).all()
            #expect(added.map(\.actor) == ["directory"])
            // No password signs in to it: the person signs in through the company's provider.
            #expect(user.passwordHash == User.noPassword)
        }
    }

    @Test(
        "POST of an existing account adds only the membership; the org's scim_default_role counts; 409 when already a User"
    )
    func existingAccountAndUniqueness() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (ada, acme, _) = try await fixtures.standardCast(role: "owner")
            let grace = try await fixtures.user("grace@example.com", name: "Grace")
            acme.scimDefaultRole = "viewer"
            try await acme.update(on: app.db)
            let directory = try await DirectoryClient.of(acme, app)

            let created = try await directory.create("grace@example.com", given: "Amazing")  // MUT
            #expect(created.status == .created)
            #expect(try created.scimUser().id == grace.id?.uuidString.lowercased())
            let membership = try #require(
                try await Membership.find(userID: grace.requireID(), organizationID: acme.requireID(), on: app.db)
            )
            #expect(membership.role.name == "viewer")
            #expect(try await User.query(on: app.db).count() == 2)

            for email in ["grace@example.com", "GRACE@example.com", "ada@example.com"] {
                _ = try await directory.create(email).scimError(.conflict, "uniqueness")
            }
            #expect(
                try await Membership.find(userID: ada.requireID(), organizationID: acme.requireID(), on: app.db)?.role
                    .name == "owner"
            )
        }
    }

    @Test(
        "POST with active false makes the account and the directory's record, no membership; the User reads active false"
    )
    func createInactive() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)

            let grace = try await directory.create("grace@example.com", active: false).scimUser()  // MUT
            #expect(!grace.active)
            let user = try #require(try await User.find(email: "grace@example.com", on: app.db))
            #expect(
                try await Membership.find(userID: user.requireID(), organizationID: acme.requireID(), on: app.db) == nil
            )
            #expect(try await directory.call(.GET, "/Users/\(grace.id)").scimUser().active == false)
            _ = try await directory.create("grace@example.com").scimError(.conflict, "uniqueness")
        }
    }

    @Test("list: every User by email, the filter userName eq (any case), startIndex and count")
    func list() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            for name in ["carol", "bob", "dave"] { _ = try await directory.create("\(name)@example.com") }
            _ = try await directory.create("erin@example.com", active: false)

            let all = try await directory.call(.GET, "/Users").scimList()  // MUT
            #expect(all.schemas == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
            #expect(all.totalResults == 5)
            #expect(
                all.resources.map(\.userName) == ["ada", "bob", "carol", "dave", "erin"].map { "\($0)@example.com" }
            )
            #expect(all.resources.map(\.active) == [true, true, true, true, false])

            let page = try await directory.call(.GET, "/Users?startIndex=2&count=2").scimList()
            #expect((page.totalResults, page.startIndex, page.itemsPerPage) == (5, 2, 2))
            #expect(page.resources.map(\.userName) == ["bob@example.com", "carol@example.com"])
            let none = try await directory.call(.GET, "/Users?count=0").scimList()
            #expect((none.totalResults, none.resources.count) == (5, 0))

            let filtered = try await directory.call(.GET, "/Users?filter=userName%20Eq%20%22Carol@EXAMPLE.com%22")
                .scimList()
            #expect(filtered.resources.map(\.userName) == ["carol@example.com"])
            #expect(filtered.totalResults == 1)
            let inactive = try await directory.call(.GET, "/Users?filter=userName%20eq%20%22erin@example.com%22")
                .scimList()
            #expect(inactive.resources.map(\.active) == [false])
            let nobody = try await directory.call(.GET, "/Users?filter=userName%20eq%20%22zed@example.com%22")
                .scimList()
            #expect(nobody.totalResults == 0)
            // An account that is not a User of this directory, and a value no account can have.
            _ = try await Fixtures(app: app).user("outsider@example.com", name: "Outsider")
            for value in ["outsider@example.com", "a%5Cu0000@b.co"] {
                let found = try await directory.call(.GET, "/Users?filter=userName%20eq%20%22\(value)%22").scimList()
                #expect(found.totalResults == 0, "\(value)")
            }

            _ = try await directory.call(.GET, "/Users?filter=displayName%20eq%20%22Ada%22").scimError(
                .badRequest,
                "invalidFilter"
            )
            _ = try await directory.call(.GET, "/Users?filter=userName%20sw%20%22a%22").scimError(
                .badRequest,
                "invalidFilter"
            )
            _ = try await directory.call(.GET, "/Users?count=many").scimError(.badRequest, "invalidValue")
            // A parameter is given once, as name=value: nothing silently ignored.
            for query in ["filter[]=x", #"filter=userName%20eq%20%22a@b.co%22&filter=userName%20eq%20%22c@d.co%22"#] {
                _ = try await directory.call(.GET, "/Users?\(query)").scimError(.badRequest, "invalidFilter")
            }
            _ = try await directory.call(.GET, "/Users?count=1&count=2").scimError(.badRequest, "invalidValue")

            let narrowed = try await directory.call(.GET, "/Users?attributes=userName&count=1")
            #expect(narrowed.text.contains("\"userName\"") && !narrowed.text.contains("\"emails\""), "\(narrowed.text)")
        }
    }

    @Test("a member the directory never provisioned is a User with the account's name and email")
    func existingMember() async throws {
        try await withPortal { app in
            let (ada, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let user = try await directory.call(.GET, "/Users/\(ada.requireID())").scimUser()  // MUT
            #expect(user.userName == "ada@example.com")
            #expect(user.name?.formatted == "Ada")
            #expect(user.emails == [.init(value: "ada@example.com", type: nil, primary: true)])
            #expect(user.active)
        }
    }

    @Test("unknown or malformed ids are 404; bad JSON 400 invalidSyntax; another content type 415; a bad body 400")
    func errors() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let grace = try await directory.create("grace@example.com").scimUser()
            for id in [UUID().uuidString, "not-a-uuid", "%00"] {
                // MUT
                _ = try await directory.call(.GET, "/Users/\(id)").scimError(id == "%00" ? .badRequest : .notFound)
            }
            _ = try await directory.patch(UUID().uuidString, #"{"op": "replace", "value": {"active": false}}"#)
                .scimError(.notFound)
            _ = try await directory.call(.DELETE, "/Users/\(UUID().uuidString)").scimError(.notFound)

            for body in ["{bad", "[]", "\"x\"", "", #"{"userName": "a\u0000b@example.com"}"#] {
                let response = try await directory.call(.POST, "/Users", json: body)
                #expect(response.status == .badRequest, "\(body): \(response.text)")
                _ = try response.scimError(.badRequest, body.contains("u0000") ? "invalidValue" : "invalidSyntax")
                _ = try await directory.call(.PATCH, "/Users/\(grace.id)", json: body).scimError(
                    .badRequest,
                    body.contains("u0000") ? "invalidValue" : "invalidSyntax"
                )
            }
            _ = try await directory.call(
                .POST,
                "/Users",
                json: #"{"userName": "grace"}"#,
                contentType: "application/json"
            )
            .scimError(.badRequest, "invalidValue")
            _ = try await directory.call(.POST, "/Users", json: #"{"displayName": "No Name"}"#).scimError(
                .badRequest,
                "invalidValue"
            )
            _ = try await directory.call(
                .POST,
                "/Users",
                json: #"{"userName": "x@example.com"}"#,
                contentType: "text/plain"
            )
            .scimError(.unsupportedMediaType)
            let padding = String(repeating: "x", count: maxJSONBodyBytes)
            _ = try await directory.call(
                .POST,
                "/Users",
                json: #"{"userName": "x@example.com", "title": "\#(padding)"}"#
            )
            .scimError(.payloadTooLarge)
            _ = try await directory.call(.POST, "/Users", json: #"{"userName": 7}"#).scimError(
                .badRequest,
                "invalidValue"
            )
            _ = try await directory.patch(grace.id, #"{"op": "bogus", "path": "active", "value": false}"#)
                .scimError(.badRequest, "invalidSyntax")
            _ = try await directory.patch(grace.id, #"{"op": "replace", "path": "title", "value": "x"}"#)
                .scimError(.badRequest, "invalidPath")
            #expect(try await directory.call(.GET, "/Users/\(grace.id)").scimUser().active)
        }
    }

    @Test("PUT replaces what the directory keeps; left-out active keeps the membership")
    func replace() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let grace = try await directory.create("grace@example.com").scimUser()

            let replaced = try await directory.call(
                .PUT,
                "/Users/\(grace.id)",
                json:
                    #"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "ignored", "userName": "grace.hopper@example.com", "displayName": "Amazing Grace", "externalId": "00u1"}"#
            )  // MUT
            let user = try replaced.scimUser()
            #expect(replaced.status == .ok)
            #expect(user.id == grace.id)
            #expect(user.userName == "grace.hopper@example.com")
            #expect(user.displayName == "Amazing Grace" && user.externalId == "00u1")
            #expect(user.name == nil && user.emails == nil)
            #expect(user.active)
            #expect(try await User.find(email: "grace.hopper@example.com", on: app.db)?.name == "Amazing Grace")
        }
    }

    @Test("PATCH name, emails, userName, with and without a path; the account follows while it belongs here only")
    func patch() async throws {
        try await withPortal { app in
            let fixtures = Fixtures(app: app)
            let (_, acme, _) = try await fixtures.standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let grace = try await directory.create("grace@example.com").scimUser()

            let renamed = try await directory.patch(
                grace.id,
                #"{"op": "replace", "path": "name.givenName", "value": "Amazing"}, {"op": "Replace", "value": {"userName": "amazing@example.com"}}, {"op": "add", "path": "emails[type eq \"home\"].value", "value": "home@example.com"}"#
            ).scimUser()  // MUT
            #expect(renamed.name?.givenName == "Amazing" && renamed.name?.familyName == "Hopper")
            #expect(renamed.userName == "amazing@example.com")
            #expect(renamed.emails?.map(\.value) == ["grace@example.com", "home@example.com"])
            let account = try #require(try await User.find(email: "amazing@example.com", on: app.db))
            #expect(account.name == "Amazing Hopper")

            // Another account has that email: uniqueness; an account in another org keeps its email.
            _ = try await fixtures.user("taken@example.com")
            _ = try await directory.patch(
                grace.id,
                #"{"op": "replace", "path": "userName", "value": "taken@example.com"}"#
            )
            .scimError(.conflict, "uniqueness")
            let globex = try await fixtures.organization("globex", name: "Globex")
            try await fixtures.member(account, of: globex)
            _ = try await directory.patch(grace.id, #"{"op": "replace", "path": "userName", "value": "g@example.com"}"#)
                .scimError(.badRequest, "mutability")
            let kept = try await directory.patch(
                grace.id,
                #"{"op": "replace", "path": "name.givenName", "value": "G"}"#
            )
            #expect(try kept.scimUser().name?.givenName == "G")
            #expect(try await User.find(email: "amazing@example.com", on: app.db)?.name == "Amazing Hopper")
        }
    }

    @Test("PATCH: a value made primary through a filter takes the flag from the others; adds never pass 10 emails")
    func patchPrimaryAndEmailLimit() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let grace = try await directory.create("grace@example.com").scimUser()
            _ = try await directory.patch(
                grace.id,
                #"{"op": "add", "path": "emails", "value": [{"value": "home@example.com", "type": "home"}]}"#
            ).scimUser()

            let moved = try await directory.patch(
                grace.id,
                #"{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}"#
            )
            #expect(moved.status == .ok)  // MUT
            let emails = try moved.scimUser().emails ?? []
            #expect(emails.filter { $0.primary == true }.map(\.value) == ["home@example.com"])

            let nine = (1...9).map { #"{"value": "extra\#($0)@example.com"}"# }.joined(separator: ", ")
            _ = try await directory.patch(grace.id, #"{"op": "add", "path": "emails", "value": [\#(nine)]}"#)
                .scimError(.badRequest, "invalidValue")
            let kept = try await directory.call(.GET, "/Users/\(grace.id)").scimUser()
            #expect(kept.emails?.count == 2)
        }
    }

    @Test("DELETE removes the membership and the User (204, then 404); the account stays")
    func delete() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let grace = try await directory.create("grace@example.com").scimUser()

            let deleted = try await directory.call(.DELETE, "/Users/\(grace.id)")  // MUT
            #expect(deleted.status == .noContent)
            _ = try await directory.call(.GET, "/Users/\(grace.id)").scimError(.notFound)
            _ = try await directory.call(.DELETE, "/Users/\(grace.id)").scimError(.notFound)
            let user = try #require(try await User.find(email: "grace@example.com", on: app.db))
            #expect(
                try await Membership.find(userID: user.requireID(), organizationID: acme.requireID(), on: app.db) == nil
            )
            #expect(try await DirectoryUser.query(on: app.db).count() == 0)
            // Made again later, it is a new User of the same account.
            #expect(try await directory.create("grace@example.com").scimUser().id == grace.id)
        }
    }

    @Test("the last owner is never deactivated or deleted: 400 mutability, nothing changes")
    func lastOwner() async throws {
        try await withPortal { app in
            let (ada, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            let id = try ada.requireID().uuidString
            _ = try await directory.patch(id, #"{"op": "replace", "value": {"active": false}}"#).scimError(
                .badRequest,
                "mutability"
            )  // MUT
            _ = try await directory.call(
                .PUT,
                "/Users/\(id)",
                json: #"{"userName": "ada@example.com", "active": false}"#
            )
            .scimError(.badRequest, "mutability")
            _ = try await directory.call(.DELETE, "/Users/\(id)").scimError(.badRequest, "mutability")
            #expect(
                try await Membership.find(userID: ada.requireID(), organizationID: acme.requireID(), on: app.db) != nil
            )
            #expect(try await DirectoryUser.query(on: app.db).count() == 0)

            // With a second owner, the first can go.
            let bob = try await Fixtures(app: app).user("bob@example.com")
            try await Fixtures(app: app).member(bob, of: acme, as: "owner")
            #expect(
                try await directory.patch(id, #"{"op": "replace", "value": {"active": false}}"#).scimUser().active
                    == false
            )
        }
    }

    @Test("discovery: ServiceProviderConfig says what is supported; ResourceTypes and Schemas name the User")
    func discovery() async throws {
        try await withPortal { app in
            let (_, acme, _) = try await Fixtures(app: app).standardCast(role: "owner")
            let directory = try await DirectoryClient.of(acme, app)
            struct Supported: Decodable { let supported: Bool }
            struct Filter: Decodable {
                let supported: Bool
                let maxResults: Int
            }
            struct Config: Decodable {
                let schemas: [String]
                let patch, bulk, changePassword, sort, etag: Supported
                let filter: Filter
            }
            let config = try JSONDecoder().decode(
                Config.self,
                from: Data(try await directory.call(.GET, "/ServiceProviderConfig").text.utf8)
            )  // MUT
            #expect(config.patch.supported && config.filter.supported && config.filter.maxResults == 200)
            #expect(![config.bulk, config.changePassword, config.sort, config.etag].contains { $0.supported })

            struct Named: Decodable { let id: String }
            struct Listed: Decodable {
                let totalResults: Int
                let resources: [Named]
                enum CodingKeys: String, CodingKey {
                    case totalResults
                    case resources = "Resources"
                }
            }
            let types = try JSONDecoder().decode(
                Listed.self,
                from: Data(try await directory.call(.GET, "/ResourceTypes").text.utf8)
            )
            #expect(types.resources.map(\.id) == ["User"])
            let schemas = try JSONDecoder().decode(
                Listed.self,
                from: Data(try await directory.call(.GET, "/Schemas").text.utf8)
            )
            #expect(schemas.resources.map(\.id) == ["urn:ietf:params:scim:schemas:core:2.0:User"])
            #expect(try await directory.call(.GET, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").status == .ok)
            #expect(try await directory.call(.GET, "/ResourceTypes/User").status == .ok)
            _ = try await directory.call(.GET, "/ResourceTypes/Group").scimError(.notFound)
        }
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
