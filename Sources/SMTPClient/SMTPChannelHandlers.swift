import NIOConcurrencyHelpers
import NIOCore

/// Splits what the server sends into lines (LF, with or without CR). A line longer than
/// RFC 5321's 512 octets many times over ends the conversation instead of filling memory.
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String
    static let maximumLineLength = 8_192

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maximumLineLength {
                throw SMTPError.unexpectedReply("a line of more than \(Self.maximumLineLength) bytes", during: .message)
            }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        guard length <= Self.maximumLineLength else {
            throw SMTPError.unexpectedReply("a line of more than \(Self.maximumLineLength) bytes", during: .message)
        }
        guard var line = buffer.readSlice(length: length) else { return .needMoreData }  // never: the LF is in it
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
        context.fireChannelRead(wrapInboundOut(String(buffer: line)))
        return .continue
    }
}

/// Replies as they arrive, for the one task that talks to the server: it waits for the next
/// one with a time limit. Shared between the channel handler and that task, under a lock.
final class SMTPReplies: Sendable {
    private struct State {
        var replies: [SMTPReply] = []
        /// Once set, every wait ends with it: the connection is gone.
        var failure: (any Error)?
        var waiter: (id: Int, continuation: CheckedContinuation<SMTPReply, any Error>)?
        var nextWaiterID = 0
        /// The waiter's time limit, cancelled when its reply comes.
        var timer: Scheduled<Void>?
    }

    private let state = NIOLockedValueBox(State())

    /// Without pipelining the server speaks only when spoken to, so at most one reply (the
    /// greeting) may arrive before anyone waits; a second is a server, or someone on the path,
    /// saying what nobody asked, and ends the conversation.
    func deliver(_ reply: SMTPReply) {
        let waiter = state.withLockedValue { state in
            guard let waiter = state.waiter else {
                if state.replies.isEmpty {
                    state.replies.append(reply)
                } else if state.failure == nil {
                    state.failure = SMTPError.unexpectedReply("a reply nobody asked for: \(reply)", during: .message)
                }
                return nil as CheckedContinuation<SMTPReply, any Error>?
            }
            state.waiter = nil
            state.timer?.cancel()
            return waiter.continuation
        }
        waiter?.resume(returning: reply)
    }

    func fail(_ error: any Error) {
        let waiter = state.withLockedValue { state in
            if state.failure == nil { state.failure = error }
            defer { state.waiter = nil }
            state.timer?.cancel()
            return state.waiter?.continuation
        }
        waiter?.resume(throwing: error)
    }

    /// Whether a reply is waiting to be read: before STARTTLS, one that came in the clear after
    /// the server's "go ahead", which must never pass for an answer over TLS.
    var hasUnread: Bool { state.withLockedValue { !$0.replies.isEmpty || $0.failure != nil } }

    /// The next reply; `startTimer` is handed the id to pass to `timeOut(_:with:)` when time is up.
    func next(startTimer: @Sendable (Int) -> Scheduled<Void>) async throws -> SMTPReply {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<SMTPReply, any Error>? = state.withLockedValue { state in
                if !state.replies.isEmpty { return .success(state.replies.removeFirst()) }
                if let failure = state.failure { return .failure(failure) }
                state.nextWaiterID += 1
                state.waiter = (state.nextWaiterID, continuation)
                state.timer = startTimer(state.nextWaiterID)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Ends wait `id` with `error`, if it is still the one waiting; whether it was.
    func timeOut(_ id: Int, with error: any Error) -> Bool {
        let waiter = state.withLockedValue { state in
            guard let waiter = state.waiter, waiter.id == id else {
                return nil as CheckedContinuation<SMTPReply, any Error>?
            }
            state.waiter = nil
            if state.failure == nil { state.failure = error }
            return waiter.continuation
        }
        waiter?.resume(throwing: error)
        return waiter != nil
    }
}

/// Turns lines into replies and hands them, and the connection's end, to `SMTPReplies`.
final class SMTPReplyHandler: ChannelInboundHandler {
    typealias InboundIn = String

    private let replies: SMTPReplies
    private var parser = SMTPReplyParser()

    init(replies: SMTPReplies) {
        self.replies = replies
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            if let reply = try parser.feed(unwrapInboundIn(data)) { replies.deliver(reply) }
        } catch {
            replies.fail(error)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        replies.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        replies.fail(SMTPError.connectionClosed(during: .message))
        context.fireChannelInactive()
    }
}
