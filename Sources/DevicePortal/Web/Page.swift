import Vapor

/// What every page's layout shows: the portal's name and who is signed in.
struct Layout: Encodable {
    let portalName: String
    let title: String
    let user: UserDTO?
    let csrfToken: String?
}

/// A template's context: the layout's part and the page's own.
private struct PageContext<Body: Encodable>: Encodable {
    let layout: Layout
    let page: Body
}

extension Request {
    /// Renders `Templates/<template>.leaf` inside the shared layout.
    func renderPage(
        _ template: String, title: String, _ body: some Encodable, status: HTTPStatus = .ok,
        headers: HTTPHeaders = [:]
    ) async throws -> Response {
        let signedIn = self.signedIn
        let layout = Layout(
            portalName: application.config.portalName, title: title,
            user: signedIn.map { UserDTO(id: $0.userID, email: $0.email, name: $0.name) },
            csrfToken: signedIn?.csrfToken)
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
            status: .tooManyRequests, title: "Too many attempts",
            message: "Too many wrong codes were entered. Try again in \(Self.describe(seconds: retryAfter)).",
            headers: ["Retry-After": String(retryAfter)])
    }

    private static func describe(seconds: Int) -> String {
        seconds < 90 ? "\(seconds) seconds" : "\((seconds + 59) / 60) minutes"
    }
}
