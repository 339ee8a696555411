import Vapor

/// What a page's form may send, checked before anything parses it (CSRF reads the form first):
/// a URL-encoded body is printable ASCII (browsers percent-encode everything else) whose fields
/// decode to UTF-8 without NUL; a multipart body only reaches the one route that takes an upload
/// (`post(_:maxBody:use:)`), with a boundary that RFC 2046 allows: MultipartKit traps on an
/// empty one, which would stop the whole process.
struct WebFormMiddleware: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if request.method != .GET, request.method != .HEAD, let contentType = request.headers.contentType {
            try await Self.check(request, contentType: contentType)
        }
        return try await next.respond(to: request)
    }

    private static func check(_ request: Request, contentType: HTTPMediaType) async throws {
        let limit = request.route?.userInfo[uploadLimitKey] as? Int
        if contentType.type.lowercased() == "multipart" {
            guard limit != nil else {
                throw PageError(
                    status: .unsupportedMediaType,
                    title: "Not a form this page takes",
                    message: "This page takes no file uploads: send the form as a browser does."
                )
            }
            guard let boundary = contentType.parameters["boundary"], MultipartBoundary.isValid(boundary) else {
                throw PageError.badRequest("The upload's multipart boundary is missing or not valid (RFC 2046).")
            }
        }
        try await collectBody(request, limit: limit)
        if contentType == .urlEncodedForm, let body = request.body.data, let problem = FormBody.problem(in: body) {
            throw PageError.badRequest(problem)
        }
    }

    /// A body larger than one network read arrives as a stream, which `content` cannot read
    /// (an upload always does). This runs before the route collects the body, so it collects
    /// it here, to the same limit the route would: its `maxBody` for a signed-in person (the
    /// only one who can use it), else the default.
    private static func collectBody(_ request: Request, limit routeLimit: Int?) async throws {
        guard request.body.data == nil else { return }
        let limit = (request.signedIn == nil ? nil : routeLimit) ?? request.application.routes.defaultMaxBodySize.value
        _ = try await request.eventLoop.flatSubmit { request.body.collect(max: limit) }.get()
    }

    static let uploadLimitKey: AnySendableHashable = "form.uploadLimit"
}

extension RoutesBuilder {
    /// A form POST that takes an upload, whose body may exceed the default limit: the route
    /// collects up to `maxBody`, and so does `WebFormMiddleware`, which reads the form first.
    @discardableResult
    func post(
        _ path: PathComponent...,
        maxBody: ByteCount,
        use closure: @escaping @Sendable (Request) async throws -> Response
    ) -> Route {
        let route = on(.POST, path, body: .collect(maxSize: maxBody), use: closure)
        route.userInfo[WebFormMiddleware.uploadLimitKey] = maxBody.value
        return route
    }
}

/// RFC 2046 §5.1.1: 1 to 70 characters from `bchars`, not ending in a space.
enum MultipartBoundary {
    private static let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ".utf8)

    static func isValid(_ boundary: String) -> Bool {
        let bytes = boundary.utf8
        return (1...70).contains(bytes.count) && bytes.allSatisfy(allowed.contains) && bytes.last != UInt8(ascii: " ")
    }
}

/// The body of a URL-encoded page form.
enum FormBody {
    /// Why the body cannot be a browser's form, or `nil`.
    static func problem(in body: ByteBuffer) -> String? {
        let bytes = body.readableBytesView
        guard bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else {
            return "The form holds bytes that a browser would have encoded."
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for field in text.utf8.split(separator: UInt8(ascii: "&")) {
            guard let decoded = PercentDecoding.decode(field, plusIsSpace: true), !decoded.containsNUL else {
                return "A field of the form is not valid text."
            }
        }
        return nil
    }
}
