import DevicePortalClient
import Foundation
import NIOConcurrencyHelpers
import Testing
import VaporTesting

@testable import DevicePortal

/// Runs `test` with a fully configured portal listening on 127.0.0.1 (a free port), so a client
/// can speak real HTTP to it; its public base URL names that port. Always on a SQLite file of
/// its own: these tests are about the client, and each holds its portal open for seconds, so on
/// the PostgreSQL run they would only take connections the server's own tests need.
func withRunningPortal(
    _ adjust: (inout PortalConfig) -> Void = { _ in },
    _ test: (Application, URL) async throws -> Void
) async throws {
    let file = NSTemporaryDirectory() + "portal-client-test-\(UUID().uuidString).sqlite"
    defer {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
    }
    var config = PortalConfig(
        database: .sqliteFile(file),
        bcryptCost: 4,
        portalSecret: PortalSecret(String(repeating: "ab", count: 32))
    )
    adjust(&config)
    let app = try await Application.make(.testing)
    app.directory = DirectoryConfiguration(workingDirectory: packageRoot)
    app.logger.logLevel = .warning
    do {
        try configure(app, with: config)
        try await app.asyncBoot()
        try await app.server.start(address: .hostname("127.0.0.1", port: 0))
        let port = try #require(app.http.server.shared.localAddress?.port)
        let base = "http://127.0.0.1:\(port)"
        app.config.publicBaseURL = base
        try await test(app, try #require(URL(string: base)))
    } catch {
        await app.server.shutdown()
        try? await app.asyncShutdown()
        throw error
    }
    await app.server.shutdown()
    try await app.asyncShutdown()
}

/// Time that passes only when the poller sleeps: a 15-minute wait takes no time at all, and
/// every wait is recorded.
final class VirtualClock: PollingClock {
    private let state = NIOLockedValueBox((now: Duration.zero, sleeps: [Duration]()))

    var sleeps: [Duration] { state.withLockedValue { $0.sleeps } }

    func now() -> Duration { state.withLockedValue { $0.now } }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        state.withLockedValue {
            $0.now += duration
            $0.sleeps.append(duration)
        }
        await Task.yield()
    }
}

/// Collects values from `@Sendable` callbacks.
final class Recorder<Value: Sendable>: Sendable {
    private let box = NIOLockedValueBox<[Value]>([])
    var values: [Value] { box.withLockedValue { $0 } }
    func append(_ value: Value) { box.withLockedValue { $0.append(value) } }
}

/// A port on 127.0.0.1 where nothing listens.
func deadPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestFailure("no free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Waits (for real) until `condition` holds, checking every 20 ms.
func eventually(
    timeout: Duration = .seconds(10),
    _ what: String,
    _ condition: () throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try !condition() {
        guard clock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A folder of its own under the temporary directory, removed by `remove()`.
struct TemporaryFolder {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("portal-client-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// The permission bits of a file or folder.
func posixMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
