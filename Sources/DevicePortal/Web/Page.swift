import Vapor

/// What every page's layout shows: the portal's name, who is signed in, and their
/// organizations with the active one (the header's picker and links).
struct Layout: Encodable {
    let portalName: String
    let title: String
    let user: UserDTO?
    let csrfToken: String?
    let organizations: [OrganizationChoice]
    let active: OrganizationChoice?
    /// Whether the header offers a choice of organization.
    let canSwitch: Bool
    /// Where the header's organization picker comes back to.
    let path: String
}

/// A template's context: the layout's part and the page's own.
private struct PageContext<Body: Encodable>: Encodable {
    let layout: Layout
    let page: Body
}

extension Request {
    /// Renders `Templates/<template>.leaf` inside the shared layout.
    func renderPage(
        _ template: String,
        title: String,
        _ body: some Encodable,
        status: HTTPStatus = .ok,
        headers: HTTPHeaders = [:]
    ) async throws -> Response {
        let signedIn = self.signedIn
        var organizations: [OrganizationChoice] = []
        if let signedIn { organizations = try await OrganizationChoice.all(of: signedIn.userID, on: db) }
        let layout = Layout(
            portalName: application.config.portalName,
            title: title,
            user: signedIn.map { UserDTO(id: $0.userID, email: $0.email, name: $0.name) },
            csrfToken: signedIn?.csrfToken,
            organizations: organizations,
            active: signedIn.flatMap { OrganizationChoice.active(for: $0, among: organizations) },
            canSwitch: organizations.count > 1,
            path: url.path
        )
        let view = try await view.render(template, PageContext(layout: layout, page: body))
        var headers = headers
        headers.contentType = .html
        return Response(status: status, headers: headers, body: .init(buffer: view.data))
    }
}

/// An error shown to a person as a page.
struct PageError: Error, Encodable {
    let status: HTTPStatus
    let title: String
    let message: String
    var headers: HTTPHeaders = [:]

    enum CodingKeys: String, CodingKey { case title, message }

    static func forbidden(_ message: String) -> PageError {
        PageError(status: .forbidden, title: "Not allowed", message: message)
    }

    static func badRequest(_ message: String) -> PageError {
        PageError(status: .badRequest, title: "Something is not right", message: message)
    }

    static func tooManyAttempts(retryAfter: Int) -> PageError {
        PageError(
            status: .tooManyRequests,
            title: "Too many attempts",
            message: "Too many wrong codes were entered. Try again in \(Self.wait(seconds: retryAfter)).",
            headers: ["Retry-After": String(retryAfter)]
        )
    }

    /// A wait as people say it: "40 seconds", "3 minutes".
    static func wait(seconds: Int) -> String {
        seconds < 90 ? Wording.count(seconds, "second") : Wording.count((seconds + 59) / 60, "minute")
    }
}
