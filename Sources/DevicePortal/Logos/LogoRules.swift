import Crypto
import Fluent
import Vapor

/// What may be an organization's logo, who may change it, and the change itself.
///
/// An upload is refused, and nothing changes, when it is missing (400), empty (422), larger
/// than 512 KiB (413), or when libmagic does not find PNG, JPEG, GIF or WebP in its bytes
/// (415): SVG (it can carry script), HTML, executables, text, anything else. The file's
/// name and the Content-Type the browser declared are never consulted.
enum LogoRules {
    static let maxBytes = 512 * 1024

    /// The route's body limit: the largest logo plus room for the multipart framing and the
    /// CSRF field, so a file a little too large reaches the handler and gets a page saying so.
    static let bodyLimit: ByteCount = "640kb"

    /// The MIME types, as libmagic names them, of the images a logo may be.
    static let acceptedTypes: Set = ["image/png", "image/jpeg", "image/gif", "image/webp"]

    struct Refusal: AbortError {
        let status: HTTPResponseStatus
        let reason: String

        static let missing = Refusal(
            status: .badRequest,
            reason: "Choose a PNG, JPEG, GIF or WebP file to upload as the logo."
        )
        static let empty = Refusal(
            status: .unprocessableEntity,
            reason: "The file is empty. Choose a PNG, JPEG, GIF or WebP image."
        )

        static func tooLarge(_ size: Int) -> Refusal {
            Refusal(
                status: .payloadTooLarge,
                reason: "The file has \(size) bytes; a logo may have at most \(maxBytes) bytes (512 KiB)."
            )
        }

        static func unsupported(_ sniffed: String) -> Refusal {
            Refusal(
                status: .unsupportedMediaType,
                reason: "The file is \(sniffed), not an image the portal accepts. "
                    + "A logo must be a PNG, JPEG, GIF or WebP image (SVG is not accepted)."
            )
        }
    }

    /// The sniffed type of an acceptable logo, or the refusal; `sniff` is libmagic off the
    /// event loop (a parameter, so the rule reads without the thread pool).
    static func contentType(of data: Data, sniff: (Data) async throws -> String) async throws -> String {
        guard !data.isEmpty else { throw Refusal.empty }
        guard data.count <= maxBytes else { throw Refusal.tooLarge(data.count) }
        let sniffed = try await sniff(data)
        guard acceptedTypes.contains(sniffed) else { throw Refusal.unsupported(sniffed) }
        return sniffed
    }

    /// Replaces the organization's logo, with an audit event, in one transaction.
    static func replace(
        in organization: Organization,
        with data: Data,
        contentType: String,
        by caller: Administrator,
        on db: any Database
    ) async throws {
        let organizationID = try organization.requireID()
        let sha256 = OpaqueSecret.lowercaseHex(SHA256.hash(data: data))
        try await db.transaction { tx in
            // Serializes with other changes to the org, and reads the caller's rights as they are now.
            try await MemberAdministration.lockOrganization(organizationID, on: tx)
            let admin = try await caller.reloaded(on: tx)
            try admin.requireAdmin("change the organization's logo")
            try await OrganizationLogo.query(on: tx).filter(\.$organization.$id == organizationID).delete()
            try await OrganizationLogo(
                organizationID: organizationID,
                contentType: contentType,
                data: data,
                sha256: sha256
            ).create(on: tx)
            try await AuditEvent.record(
                .logoChanged,
                by: admin.audit,
                in: organizationID,
                details: ["content_type": contentType, "bytes": String(data.count), "sha256": sha256],
                on: tx
            )
        }
    }
}
