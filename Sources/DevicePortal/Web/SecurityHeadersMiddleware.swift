import Vapor

/// Headers that keep pages out of frames, keep URLs (with user codes) out of Referer
/// headers, and forbid inline script and style.
///
/// This and the other global middlewares are plain `Middleware`s: an `AsyncMiddleware` starts a
/// task for every request, which costs more than what they do.
struct SecurityHeadersMiddleware: Middleware {
    let https: Bool

    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).map { response in
            addHeaders(to: response)
            return response
        }
    }

    private func addHeaders(to response: Response) {
        let headers = [
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                    + "frame-ancestors 'none'; base-uri 'none'"
            ),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        for (name, value) in headers { response.headers.replaceOrAdd(name: name, value: value) }
        if https {
            response.headers.replaceOrAdd(name: "Strict-Transport-Security", value: "max-age=31536000")
        }
    }
}

/// `Cache-Control: no-store` on every dynamic response: they carry credentials,
/// personal data or CSRF tokens. A handler that names its own caching keeps it: only an
/// org's logo does (`private, no-cache` with an ETag, as the picker shows it on every page).
struct NoStoreMiddleware: Middleware {
    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        next.respond(to: request).map { response in
            if !response.headers.contains(name: .cacheControl) {
                response.headers.add(name: .cacheControl, value: "no-store")
            }
            return response
        }
    }
}
