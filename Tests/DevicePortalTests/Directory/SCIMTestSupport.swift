import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

/// SCIM's error body (RFC 7644 §3.12).
struct SCIMErrorBody: Decodable, Equatable {
    let schemas: [String]
    let status: String
    let scimType: String?
    let detail: String
}

/// A User as `/scim/v2/Users` answers it, the fields the tests read.
struct SCIMUserBody: Decodable {
    struct Name: Decodable, Equatable {
        let formatted: String?
        let givenName: String?
        let familyName: String?
    }

    struct Email: Decodable, Equatable {
        let value: String
        let type: String?
        let primary: Bool?
    }

    struct Meta: Decodable {
        let resourceType: String
        let created: String
        let lastModified: String
        let location: String
    }

    let schemas: [String]
    let id: String
    let externalId: String?
    let userName: String
    let name: Name?
    let displayName: String?
    let emails: [Email]?
    let active: Bool
    let meta: Meta
}

struct SCIMListBody: Decodable {
    let schemas: [String]
    let totalResults: Int
    let startIndex: Int
    let itemsPerPage: Int
    let resources: [SCIMUserBody]

    enum CodingKeys: String, CodingKey {
        case schemas, totalResults, startIndex, itemsPerPage
        case resources = "Resources"
    }
}

extension TestingHTTPResponse {
    /// The body as SCIM's error, with the status it repeats and the SCIM content type; any other
    /// shape fails the test.
    func scimError(
        _ status: HTTPStatus,
        _ scimType: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    )
        throws -> SCIMErrorBody
    {
        #expect(self.status == status, "\(self.status) \(text)", sourceLocation: sourceLocation)
        #expect(
            headers.first(name: .contentType)?.hasPrefix("application/scim+json") == true,
            sourceLocation: sourceLocation
        )
        let body = try JSONDecoder().decode(SCIMErrorBody.self, from: Data(text.utf8))
        #expect(body.schemas == ["urn:ietf:params:scim:api:messages:2.0:Error"], sourceLocation: sourceLocation)
        #expect(body.status == String(status.code), sourceLocation: sourceLocation)
        #expect(body.scimType == scimType, "\(text)", sourceLocation: sourceLocation)
        return body
    }

    func scimUser(sourceLocation: SourceLocation = #_sourceLocation) throws -> SCIMUserBody {
        #expect(
            headers.first(name: .contentType)?.hasPrefix("application/scim+json") == true,
            sourceLocation: sourceLocation
        )
        do {
            return try JSONDecoder().decode(SCIMUserBody.self, from: Data(text.utf8))
        } catch {
            throw TestFailure("not a SCIM User: \(status) \(text)\n\(error)")
        }
    }

    func scimList() throws -> SCIMListBody {
        do {
            return try JSONDecoder().decode(SCIMListBody.self, from: Data(text.utf8))
        } catch {
            throw TestFailure("not a SCIM ListResponse: \(status) \(text)\n\(error)")
        }
    }
}

/// The company directory's side: a directory token of an organization and its SCIM calls.
struct DirectoryClient {
    let app: Application
    let token: String

    /// A new directory token of `organization`, made as the command line makes it.
    static func of(_ organization: Organization, _ app: Application) async throws -> DirectoryClient {
        let made = try await DirectoryTokens.create(by: .commandLine(in: organization), on: app.db)
        return DirectoryClient(app: app, token: try #require(made.token))
    }

    func call(
        _ method: HTTPMethod,
        _ path: String,
        json: String? = nil,
        contentType: String = "application/scim+json"
    ) async throws -> TestingHTTPResponse {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(token)"]
        if json != nil { headers.add(name: .contentType, value: contentType) }
        return try await app.testing().sendRequest(
            method,
            "/scim/v2" + path,
            headers: headers,
            body: json.map { ByteBuffer(string: $0) }
        )
    }

    /// POST /Users with the few attributes the tests vary.
    func create(
        _ email: String,
        active: Bool? = nil,
        given: String = "Grace",
        family: String = "Hopper"
    ) async throws
        -> TestingHTTPResponse
    {
        let activeField = active.map { #", "active": \#($0)"# } ?? ""
        return try await call(
            .POST,
            "/Users",
            json: """
                {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "\(email)",
                 "name": {"givenName": "\(given)", "familyName": "\(family)"},
                 "emails": [{"value": "\(email)", "type": "work", "primary": true}]\(activeField)}
                """
        )
    }

    func patch(_ id: String, _ operations: String) async throws -> TestingHTTPResponse {
        try await call(
            .PATCH,
            "/Users/\(id)",
            json: #"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [\#(operations)]}"#
        )
    }
}
