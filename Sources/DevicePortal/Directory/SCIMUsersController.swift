import Fluent
import Vapor

/// `/scim/v2/Users` (RFC 7644 §3): thin handlers over `DirectoryProvisioning`.
enum SCIMUsersController {
    /// The most Users one page holds (ServiceProviderConfig's `filter.maxResults`).
    static let maxResults = 200

    @Sendable static func list(req: Request) async throws -> Response {
        let directory = try req.directory
        let records: [DirectoryProvisioning.Record]
        if let filter = try SCIMQuery.parameter(req, "filter") {
            let email = try SCIMFilter.userName(filter)
            let found = try await DirectoryProvisioning.record(userName: email, in: directory, on: req.db)
            records = found.map { [$0] } ?? []
        } else {
            records = try await DirectoryProvisioning.all(in: directory, on: req.db)
        }
        let startIndex = max(1, try integer(req, "startIndex") ?? 1)
        let count = min(maxResults, max(0, try integer(req, "count") ?? maxResults))
        let page = records.dropFirst(startIndex - 1).prefix(count)
        let resources = try page.map { SCIMValue.object(try SCIMRendering.select(SCIMRendering.user($0, req), req)) }
        return SCIMResponse.make(SCIMRendering.list(resources, total: records.count, startIndex: startIndex))
    }

    @Sendable static func show(req: Request) async throws -> Response {
        guard let record = try await DirectoryProvisioning.record(try userID(req), in: try req.directory, on: req.db)
        else { throw DirectoryProvisioning.notFound }
        return try answer(record, req)
    }

    @Sendable static func create(req: Request) async throws -> Response {
        let directory = try req.directory
        let document = try SCIMUserDocument.read(try await SCIMBody.read(req))
        let record = try await DirectoryProvisioning.create(document, in: directory, on: req.db)
        let response = try answer(record, req, status: .created)
        response.headers.replaceOrAdd(name: .location, value: SCIMRendering.base(req) + "/Users/" + idText(record))
        return response
    }

    @Sendable static func replace(req: Request) async throws -> Response {
        let directory = try req.directory
        let userID = try userID(req)
        let replacement = try SCIMUserDocument.read(try await SCIMBody.read(req))
        let record = try await DirectoryProvisioning.update(userID, in: directory, on: req.db) { current in
            var document = replacement
            if document.attributes["active"] == nil { document.attributes["active"] = current.attributes["active"] }
            return document
        }
        return try answer(record, req)
    }

    @Sendable static func patch(req: Request) async throws -> Response {
        let directory = try req.directory
        let userID = try userID(req)
        let operations = try SCIMPatch.operations(try await SCIMBody.read(req))
        let record = try await DirectoryProvisioning.update(userID, in: directory, on: req.db) { current in
            try SCIMPatch.apply(operations, to: current)
        }
        return try answer(record, req)
    }

    @Sendable static func delete(req: Request) async throws -> Response {
        try await DirectoryProvisioning.delete(try userID(req), in: try req.directory, on: req.db)
        return Response(status: .noContent, headers: ["Cache-Control": "no-store"])
    }

    // MARK: helpers

    private static func answer(
        _ record: DirectoryProvisioning.Record,
        _ req: Request,
        status: HTTPStatus = .ok
    ) throws -> Response {
        SCIMResponse.make(.object(try SCIMRendering.select(SCIMRendering.user(record, req), req)), status: status)
    }

    private static func idText(_ record: DirectoryProvisioning.Record) -> String {
        record.userID.uuidString.lowercased()
    }

    /// A malformed id is as unknown as a made-up one.
    private static func userID(_ req: Request) throws -> UUID {
        guard let id = req.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw DirectoryProvisioning.notFound
        }
        return id
    }

    private static func integer(_ req: Request, _ name: String) throws -> Int? {
        guard let text = try SCIMQuery.parameter(req, name) else { return nil }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw SCIMError.invalidValue("\(name) must be an integer.")
        }
        return value
    }
}

/// A SCIM request body: `application/scim+json` or `application/json`, a JSON object.
enum SCIMBody {
    static func read(_ req: Request) async throws -> [String: SCIMValue] {
        if let type = req.headers.contentType,
            !(type.type == "application" && ["scim+json", "json"].contains(type.subType.lowercased()))
        {
            throw SCIMError(
                status: .unsupportedMediaType,
                scimType: nil,
                detail: "The body must be application/scim+json (or application/json)."
            )
        }
        let buffer = try await req.body.collect(max: maxJSONBodyBytes).get()
        let data = buffer.map { Data($0.readableBytesView) } ?? Data()
        // Also when the body came collected (in tests, or under a larger route limit).
        guard data.count <= maxJSONBodyBytes else {
            throw SCIMError(
                status: .payloadTooLarge,
                scimType: nil,
                detail: "The body is larger than \(maxJSONBodyBytes) bytes."
            )
        }
        guard let value = try? JSONDecoder().decode(SCIMValue.self, from: data), case .object(let object) = value else {
            throw SCIMError.invalidSyntax("The body is not a JSON object.")
        }
        guard !value.holdsNUL else {
            throw SCIMError.invalidValue("The body holds a NUL character, which no attribute takes.")
        }
        return object
    }
}
