import FluentPostgresDriver
import FluentSQLiteDriver
import NIOCore
import NIOPosix

/// Whether an error means the database cannot be used right now (down, restarting, out of
/// connections, locked), as opposed to a request's own mistake: such a request is answered
/// 503 with `Retry-After`, and the pool reconnects by itself once the database is back.
package enum DatabaseOutage {
    /// Seconds a client is asked to wait.
    package static let retryAfter = 5

    package static func isOutage(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                .sslUnsupported, .failedToAddSSLHandler:
                return true
            case .server:
                // Class 08: connection exceptions; 57P01–57P03: shutting down or starting up;
                // 53300: too many connections.
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state)
            default:
                return false
            }
        case is ConnectionPoolTimeoutError, is ConnectionPoolError, is NIOConnectionError, is IOError:
            return true
        case let error as ChannelError:
            switch error {
            case .connectTimeout, .ioOnClosedChannel, .alreadyClosed, .eof, .inputClosed, .outputClosed: return true
            default: return false
            }
        case let error as SQLiteError:
            return error.reason == .busy || error.reason == .locked
        default:
            return false
        }
    }
}
