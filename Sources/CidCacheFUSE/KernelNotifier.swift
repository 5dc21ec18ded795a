import CFuse
import Dispatch
import Synchronization

/// Tells the kernel about removals it did not see as an unlink, from its own
/// queue after the reply: notifying from inside a handler of the same folder deadlocks.
final class KernelNotifier: Sendable {
    private let queue = DispatchQueue(label: "cidcache.kernel-notifier")
    /// The session's address (pointers are not Sendable), read and used on `queue` only; 0 when detached.
    private let session = Mutex<UInt>(0)

    /// Starts notifying once the session is mounted; nil stops it before the session ends.
    func attach(_ session: OpaquePointer?) {
        let address = UInt(bitPattern: session)
        queue.sync { self.session.withLock { $0 = address } }
    }

    /// Runs `body` once every notification queued so far has been sent: a
    /// handler that removed entries replies through here, so its caller sees
    /// the removal at once.
    func afterPending(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }

    /// Drops the kernel's cached name `name` in folder `parent`.
    func invalidate(parent: UInt64, name: String) {
        queue.async {
            self.session.withLock { address in
                guard let session = OpaquePointer(bitPattern: address) else { return }
                _ = name.withCString { fuse_lowlevel_notify_inval_entry(session, parent, $0, name.utf8.count) }
            }
        }
    }
}
