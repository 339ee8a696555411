import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import DevicePortal

@Suite("Rounds repeated while the server runs")
struct PeriodicRoundsTests {
    @Test("stop waits for the round in progress, and no round starts after it")
    func stopWaitsForTheRound() async throws {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let log = NIOLockedValueBox<[String]>([])
        let rounds = PeriodicRounds()
        rounds.start(on: eventLoop, after: .milliseconds(1), every: .milliseconds(1)) {
            log.withLockedValue { $0.append("began") }
            try? await Task.sleep(for: .milliseconds(300))
            log.withLockedValue { $0.append("ended") }
        }
        while log.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }

        await rounds.stop(on: eventLoop)  // MUT
        #expect(log.withLockedValue { $0 } == ["began", "ended"])
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.withLockedValue { $0 } == ["began", "ended"])
    }
}
