import Fluent
import Vapor

/// `POST /orgs/{slug}/logo` (an admin's upload from the settings page) and
/// `GET /orgs/{slug}/logo` (the image, for the org's members).
enum LogoController {
    struct UploadForm: Decodable {
        /// The file's bytes; its name and declared type are ignored.
        let logo: Data?
    }

    @Sendable static func upload(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        try admin.requireAdmin("change the organization's logo")
        guard req.headers.contentType?.type == "multipart", req.headers.contentType?.subType == "form-data" else {
            throw LogoRules.Refusal.missing
        }
        guard let data = try req.content.decode(UploadForm.self).logo else { throw LogoRules.Refusal.missing }
        let threadPool = req.application.threadPool
        let contentType = try await LogoRules.contentType(of: data) { bytes in
            try await threadPool.runIfActive { try Magic.mimeType(of: bytes) }
        }
        try await LogoRules.replace(in: organization, with: data, contentType: contentType, by: admin, on: req.db)
        return req.redirect(to: "/orgs/\(organization.slug)/settings", redirectType: .normal)
    }

    @Sendable static func show(req: Request) async throws -> Response {
        // Members only; anyone else learns nothing, not even whether the org exists.
        let (admin, _) = try await Administrator.web(req)
        let noLogo = AdminError.notFound("This organization has no logo.")
        let query = OrganizationLogo.query(on: req.db).filter(\.$organization.$id == admin.organizationID)
        // The hash first: the picker revalidates on every page, and a 304 needs no image bytes.
        guard let stored = try await query.copy().field(\.$id).field(\.$sha256).first() else { throw noLogo }
        let etag = "\"\(stored.sha256)\""
        // Revalidated on every use (the picker is on every page), private to the member.
        var headers: HTTPHeaders = [
            "ETag": etag, "Cache-Control": "private, no-cache", "Content-Disposition": "inline",
        ]
        let known = req.headers[.ifNoneMatch].flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "")
        }
        if known.contains(etag) || known.contains("*") {
            return Response(status: .notModified, headers: headers)
        }
        guard let logo = try await query.first() else { throw noLogo }
        headers.replaceOrAdd(name: .eTag, value: "\"\(logo.sha256)\"")  // replaced in between: its own
        // The type libmagic found at upload, which is always an image type; the security
        // headers add `nosniff` and a CSP of `default-src 'none'` to this response too.
        headers.replaceOrAdd(name: .contentType, value: logo.contentType)
        return Response(status: .ok, headers: headers, body: .init(data: logo.data))
    }

}
