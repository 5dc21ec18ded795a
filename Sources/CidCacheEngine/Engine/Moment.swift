import Foundation
import NIOCore

/// When something happened, read from both clocks: the date for what is
/// recorded (a log line's time, an entry's `fetched`), the monotonic instant
/// for how long it took since (a setting of the wall clock moves dates, not durations).
struct Moment: Sendable {
    let date: Date
    let instant: NIODeadline

    static var now: Moment { Moment(date: Date(), instant: .now()) }

    /// Milliseconds from this moment to now, on the monotonic clock.
    var elapsedMilliseconds: Int64 {
        (NIODeadline.now() - instant).nanoseconds / 1_000_000
    }
}
