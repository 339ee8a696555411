import Fluent
import Vapor

enum AuditAPIController {
    struct AuditPage: Content {
        let items: [AuditEventDTO]
        let nextBefore: String?
        enum CodingKeys: String, CodingKey {
            case items
            case nextBefore = "next_before"
        }
    }

    @Sendable static func list(req: Request) async throws -> AuditPage {
        let admin = try OrganizationsAPIController.administrator(req)
        try admin.require(.auditRead)
        let page = try await AuditLog.page(of: admin.organizationID, try AuditLog.Query(from: req), on: req.db)
        return AuditPage(items: try page.events.map(AuditEventDTO.init), nextBefore: page.next?.text)
    }
}
