import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process started with `posix_spawn`, its standard output and error read as they come.
///
/// Not Foundation's `Process`: on Linux its `run()` reads `/proc/self/fd` past the end of a
/// directory entry and crashes the caller now and then (a SIGSEGV in `memcpy`, seen in this suite;
/// fixed upstream after Swift 6.3.1), and a test process holds many descriptors.
final class ChildProcess: Sendable {
    enum Reason: Sendable {
        case exit, uncaughtSignal
    }

    struct Output: Sendable {
        var stdout = Data()
        var stderr = Data()
        /// The pipes not read to their end yet.
        var open = 2
        /// Set once the child has been reaped.
        var ended: (reason: Reason, status: Int32)?
    }

    let pid: pid_t
    private let output = NIOLockedValueBox(Output())

    /// Starts `executable` with `arguments` and exactly `environment`, with no standard input.
    init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        var stdout: [Int32] = [0, 0]
        var stderr: [Int32] = [0, 0]
        guard pipe(&stdout) == 0, pipe(&stderr) == 0 else { throw TestFailure("pipe failed: \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderr[1], 2)
        for descriptor in stdout + stderr { posix_spawn_file_actions_addclose(&actions, descriptor) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(stdout[1])
        close(stderr[1])
        guard status == 0 else {
            close(stdout[0])
            close(stderr[0])
            throw TestFailure("posix_spawn \(executable) failed: \(status)")
        }
        self.pid = pid
        read(stdout[0], isStandardOutput: true)
        read(stderr[0], isStandardOutput: false)
    }

    /// Whether the child still runs (it is reaped the first time it is found ended).
    var isRunning: Bool { reaped() == nil }

    var snapshot: Output { output.withLockedValue { $0 } }

    /// SIGTERM while it runs; a reaped child's id is never signalled, so a reused one never is.
    func terminate() {
        if isRunning { kill(pid, SIGTERM) }
    }

    private func reaped() -> (reason: Reason, status: Int32)? {
        output.withLockedValue { output in
            if let ended = output.ended { return ended }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift cannot import as macros.
            let signal = status & 0x7f
            output.ended = signal == 0 ? (.exit, (status >> 8) & 0xff) : (.uncaughtSignal, signal)
            return output.ended
        }
    }

    private func read(_ descriptor: Int32, isStandardOutput: Bool) {
        let output = output
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                let data = Data(buffer[0..<count])
                output.withLockedValue {
                    if isStandardOutput { $0.stdout.append(data) } else { $0.stderr.append(data) }
                }
            }
            close(descriptor)
            output.withLockedValue { $0.open -= 1 }
        }
    }
}
