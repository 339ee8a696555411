import AsyncHTTPClient
import NIOCore
import Vapor

/// The portal's outbound client (`useIdentityProviders` installs it): Vapor's own reads a whole
/// answer, up to 4 GiB, before anyone can look at its size; this one stops reading an answer
/// once it passes `maxBody` bytes, so a provider (or whoever answers in its name) cannot fill
/// the portal's memory within the 5-second deadline.
struct BoundedHTTPClient: Client {
    let http: HTTPClient
    let eventLoop: any EventLoop
    let maxBody: Int

    func send(_ request: ClientRequest) -> EventLoopFuture<ClientResponse> {
        do {
            let outgoing = try HTTPClient.Request(
                url: request.url.string,
                method: request.method,
                headers: request.headers,
                body: request.body.map { .byteBuffer($0) }
            )
            return http.execute(
                request: outgoing,
                delegate: ResponseAccumulator(request: outgoing, maxBodySize: maxBody),
                eventLoop: .delegate(on: eventLoop),
                deadline: request.timeout.map { .now() + $0 }
            ).futureResult.map { response in
                ClientResponse(status: response.status, headers: response.headers, body: response.body)
            }
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    func delegating(to eventLoop: any EventLoop) -> any Client {
        BoundedHTTPClient(http: http, eventLoop: eventLoop, maxBody: maxBody)
    }
}
