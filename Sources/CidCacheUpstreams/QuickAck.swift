import Glibc
import NIOCore

/// Acknowledges every piece of an upstream's answer at once (TCP_QUICKACK).
/// On a keep-alive connection that has just sent a request, Linux delays the
/// ACK of the answer's first segment by ~40 ms ("pingpong" mode); a server with
/// Nagle on that writes its headers and body separately (Python's http.server,
/// Flask's development server) holds the body until that ACK. The kernel drops
/// the flag again at our next send, so it is set after every read.
final class QuickAck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    private static let option = ChannelOptions.Types.SocketOption(level: .tcp, name: .init(rawValue: TCP_QUICKACK))
    /// Cleared when the socket refuses the option (a unix socket has no ACK to hurry).
    private var applies = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if applies {
            do { try context.channel.syncOptions?.setOption(Self.option, value: 1) } catch { applies = false }
        }
        context.fireChannelRead(data)
    }

    /// Installs it next to the socket of a new connection, below TLS.
    @Sendable static func install(on channel: Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(QuickAck(), position: .first)
        }
    }
}
