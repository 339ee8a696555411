import PortalDatabase
import Vapor

/// Turns every error into the answer its caller can read: JSON for the API and OAuth
/// endpoints, a page for people, as the route's `AnswerFormat` says. Nothing internal leaks; unexpected errors are logged.
struct PortalErrorMiddleware: Middleware {
    /// Only an error starts a task (a page may need rendering).
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).flatMapError { error in
            request.eventLoop.makeFutureWithTask {
                let response = await self.response(for: error, to: request)
                response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
                return response
            }
        }
    }

    private func response(for error: any Error, to request: Request) async -> Response {
        if AnswerFormat.of(request) == .scim { return Self.scimResponse(for: error, request) }
        if let error = error as? JSONError { return error.response() }
        if let permission = (error as? AdminError)?.lackingPermission, AnswerFormat.of(request) == .json {
            return JSONError.insufficientScope(permission).response()
        }
        let page =
            error as? PageError ?? Self.methodNotAllowed(error, request)
            ?? Self.pageError(for: error, logger: request.logger)
        if AnswerFormat.of(request) == .json {
            return JSONError(
                status: page.status,
                error: Self.errorCode(for: page.status),
                description: page.message,
                headers: page.headers
            ).response()
        }
        do {
            return try await request.renderPage(
                "error",
                title: page.title,
                page,
                status: page.status,
                headers: page.headers
            )
        } catch {
            request.logger.report(error: error)
            return Response(status: page.status, headers: page.headers, body: .init(string: page.message))
        }
    }

    /// SCIM's error shape for every error of `/scim/v2/`, the router's 404 and 405 included.
    private static func scimResponse(for error: any Error, _ request: Request) -> Response {
        if let error = error as? SCIMError { return error.response() }
        let page =
            error as? PageError ?? methodNotAllowed(error, request) ?? pageError(for: error, logger: request.logger)
        let detail =
            request.route == nil && page.status == .notFound
            ? "There is no SCIM endpoint at this address." : page.message
        return SCIMError(status: page.status, scimType: nil, detail: detail, headers: page.headers).response()
    }

    /// The JSON API's `error` for a status that carries no OAuth error code of its own.
    static func errorCode(for status: HTTPStatus) -> String {
        switch status {
        case .forbidden: "forbidden"
        case .methodNotAllowed: "method_not_allowed"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .payloadTooLarge: "too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .unprocessableEntity: "unprocessable"
        case .tooManyRequests: "too_many_requests"
        case .serviceUnavailable: "temporarily_unavailable"
        case _ where status.code >= 500: "server_error"
        default: "invalid_request"
        }
    }

    /// The router's 404 for a path that other methods answer.
    private static func methodNotAllowed(_ error: any Error, _ request: Request) -> PageError? {
        guard request.route == nil, (error as? any AbortError)?.status == .notFound else { return nil }
        let allowed = MethodNotAllowed.allowedMethods(for: request)
        guard !allowed.isEmpty else { return nil }
        return PageError(
            status: .methodNotAllowed,
            title: "Method not allowed",
            message: "This address answers \(allowed.joined(separator: ", ")), not \(request.method.rawValue).",
            headers: ["Allow": allowed.joined(separator: ", ")]
        )
    }

    private static func pageError(for error: any Error, logger: Logger) -> PageError {
        switch error {
        case let abort as any AbortError where abort.status.code < 500:
            // The router's own 404 says nothing useful; a rule's 404 says what was not found.
            let message =
                abort.status == .notFound && !(abort is AdminError) ? "There is no page at this address." : abort.reason
            return PageError(
                status: abort.status,
                title: abort.status.reasonPhrase,
                message: message,
                headers: abort.headers
            )
        case is DecodingError:
            return .badRequest("The request could not be read.")
        case _ where String(reflecting: type(of: error)).hasPrefix("MultipartKit."):
            // The parser's own error type is private; any of its errors is a broken body.
            return .badRequest("The upload could not be read: its multipart body is malformed.")
        case _ where DatabaseOutage.isOutage(error):
            logger.warning("database unavailable: \(String(reflecting: error))")
            return PageError(
                status: .serviceUnavailable,
                title: "Try again in a moment",
                message: "The portal cannot reach its database right now. Try again in a few seconds.",
                headers: ["Retry-After": String(DatabaseOutage.retryAfter)]
            )
        default:
            logger.report(error: error)
            return PageError(
                status: .internalServerError,
                title: "Something went wrong",
                message: "The portal could not complete this request. Please try again."
            )
        }
    }
}
