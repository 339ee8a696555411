import Vapor

/// `GET /orgs/{slug}/audit`: the log as a page, newest first, filterable, a page at a time.
enum AuditPageController {
    struct AuditPage: Encodable {
        struct Row: Encodable {
            let occurredAt: String
            let kind: String
            let actor: String
            let subject: String?
            let ip: String?
            let details: String
        }

        let slug: String
        let name: String
        let events: [Row]
        let isEmpty: Bool
        let kinds: [String]
        let kind: String
        let user: String
        let older: String?
    }

    @Sendable static func show(req: Request) async throws -> Response {
        let (admin, organization) = try await Administrator.web(req)
        try admin.require(.auditRead)
        let query = try AuditLog.Query(from: req)
        let page = try await AuditLog.page(of: admin.organizationID, query, on: req.db)
        var older: String?
        if let next = page.next {
            var components = URLComponents()
            components.queryItems = [
                URLQueryItem(name: "before", value: next.text),
                URLQueryItem(name: "kind", value: query.kind?.rawValue ?? ""),
                URLQueryItem(name: "user", value: query.userID?.uuidString ?? ""),
            ]
            older = "/orgs/\(organization.slug)/audit?" + (components.percentEncodedQuery ?? "")
        }
        return try await req.renderPage(
            "organizations/audit",
            title: "Audit log of \(organization.name)",
            AuditPage(
                slug: organization.slug,
                name: organization.name,
                events: page.events.map { event in
                    .init(
                        occurredAt: event.occurredAt.formatted(.iso8601),
                        kind: event.kind.rawValue,
                        actor: event.actor,
                        subject: event.subject,
                        ip: event.ip,
                        details: event.details == "{}" ? "" : event.details
                    )
                },
                isEmpty: page.events.isEmpty,
                kinds: AuditEvent.Kind.allCases.map(\.rawValue),
                kind: query.kind?.rawValue ?? "",
                user: query.userID?.uuidString ?? "",
                older: older
            )
        )
    }
}
