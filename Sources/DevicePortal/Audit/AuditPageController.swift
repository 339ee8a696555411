import Vapor

/// `GET /orgs/{slug}/audit`: the log as a page, newest first, filterable, a page at a time.
enum AuditPageController {
    struct AuditPage: Encodable {
        struct Row: Encodable {
            let occurredAt: ShownDate
            let kind: String
            let actor: String
            let subject: String?
            let ip: String?
            let details: [Field]
            let hasDetails: Bool
        }

        struct Field: Encodable, Equatable {
            let label: String
            let value: String
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
                URLQueryItem(name: "user", value: query.email ?? query.userID?.uuidString ?? ""),
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
                    let details = fields(of: event)
                    return .init(
                        occurredAt: ShownDate(event.occurredAt, now: req.now),
                        kind: event.kind.rawValue,
                        actor: event.actor,
                        subject: event.subject,
                        ip: event.ip,
                        details: details,
                        hasDetails: !details.isEmpty
                    )
                },
                isEmpty: page.events.isEmpty,
                kinds: AuditEvent.Kind.allCases.map(\.rawValue),
                kind: query.kind?.rawValue ?? "",
                user: query.email ?? query.userID?.uuidString ?? "",
                older: older
            )
        )
    }

    /// An event's details as labelled fields, in a stable order; empty values say nothing.
    static func fields(of event: AuditEvent) -> [AuditPage.Field] {
        let details = (try? JSONDecoder().decode([String: String].self, from: Data(event.details.utf8))) ?? [:]
        return details.filter { !$0.value.isEmpty }.sorted { lhs, rhs in
            let (l, r) = (labels.firstIndex { $0.key == lhs.key }, labels.firstIndex { $0.key == rhs.key })
            return (l ?? labels.count, lhs.key) < (r ?? labels.count, rhs.key)
        }.map { AuditPage.Field(label: label(of: $0.key), value: $0.value) }
    }

    /// Known detail keys in the order they read best; others get their key in words.
    private static let labels: KeyValuePairs<String, String> = [
        "role": "Role", "from": "Previous role", "to": "New role", "name": "New name", "permissions": "Permissions",
        "reason": "Reason", "count": "Tokens revoked", "revoked_tokens": "Tokens revoked",
        "ended_approvals": "Approvals ended", "client_id": "App (client id)", "device_name": "Device",
        "user_code": "Code", "typed": "Code typed", "token_id": "Token id", "invited_by": "Invited by",
        "invitation_id": "Invitation id", "device_signin": "Device sign-in", "token_ttl": "Token lifetime (seconds)",
        "content_type": "Image type", "bytes": "Size (bytes)", "sha256": "SHA-256",
    ]

    static func label(of key: String) -> String {
        if let known = labels.first(where: { $0.key == key }) { return known.value }
        let words = key.replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }
}
