@testable import CidCacheFUSE
import Glibc
import XCTest

/// A handle the kernel never took (the open was interrupted, so its
/// `fuse_reply_open` failed) is released at once: no release would come.
final class OpenHandleTests: XCTestCase {
    private func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

    func testARefusedHandleIsReleasedAndClosesItsFile() {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        weak var weakHandle: OpenHandle?
        do {
            let handle = OpenHandle(.file(fd: fd))
            weakHandle = handle
            handle.hand { _ in -ENOENT }
        }
        XCTAssertNil(weakHandle)
        XCTAssertFalse(isOpen(fd))
    }

    func testATakenHandleLivesUntilTheKernelReleasesIt() throws {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        var given: UInt64 = 0
        do {
            OpenHandle(.file(fd: fd)).hand { handle in
                given = handle
                return 0
            }
        }
        XCTAssertNotNil(OpenHandle.borrow(given))
        XCTAssertTrue(isOpen(fd))
        XCTAssertNotNil(OpenHandle.release(given))
        XCTAssertFalse(isOpen(fd))
    }
}
