@testable import CidCacheFUSE
import XCTest

/// readdir's offsets: fixed entries, then rows at `fixed.count + id`; a
/// listing resumed at any offset it handed out lists each name exactly once.
final class DirectoryListingTests: XCTestCase {
    private typealias Entry = DirectoryListing.Entry

    private let operationFolder = DirectoryListing(fixed: [
        Entry(name: ".", inode: 10, directory: true), Entry(name: "..", inode: 1, directory: true),
        Entry(name: "query", inode: 11, directory: false),
    ], paged: true)
    private let cidFolder = DirectoryListing(fixed: [
        Entry(name: ".", inode: 3, directory: true), Entry(name: "..", inode: 1, directory: true),
    ], paged: true)
    private let staticFolder = DirectoryListing(fixed: [
        Entry(name: ".", inode: 1, directory: true), Entry(name: "..", inode: 1, directory: true),
        Entry(name: "README", inode: 2, directory: false), Entry(name: "cid", inode: 3, directory: true),
    ], paged: false)

    /// Rows with gaps in their ids, as removals leave them.
    private let rows: [(id: Int64, name: String)] = [1, 2, 3, 7, 8, 20, 21, 22, 100, 101].map { ($0, "row\($0)") }

    /// One readdir: at most `room` entries, rows asked `pageSize` at a time.
    private func readdir(_ listing: DirectoryListing, from offset: Int64, room: Int, pageSize: Int = 3)
        -> [(name: String, next: Int64)] {
        var listed: [(name: String, next: Int64)] = []
        listing.list(from: offset, page: { after in
            Array(rows.filter { $0.id > after }.prefix(pageSize))
        }, add: { entry, next in
            guard listed.count < room else { return false }
            listed.append((entry.name, next))
            return true
        })
        return listed
    }

    /// Lists as the kernel does: from 0, each readdir resuming at the last offset returned.
    private func listAll(_ listing: DirectoryListing, room: Int, pageSize: Int = 3) -> [String] {
        var names: [String] = [], offset: Int64 = 0
        while true {
            let listed = readdir(listing, from: offset, room: room, pageSize: pageSize)
            guard let last = listed.last else { return names }
            names += listed.map(\.name)
            offset = last.next
        }
    }

    func testTheOffsetsOfFixedEntriesAndRows() {
        let all = readdir(operationFolder, from: 0, room: 100)
        XCTAssertEqual(all.map(\.name), [".", "..", "query"] + rows.map(\.name))
        XCTAssertEqual(all.map(\.next), [1, 2, 3] + rows.map { 3 + $0.id })
        // With two fixed entries, rows sit at 2 + id: still past every fixed offset.
        XCTAssertEqual(readdir(cidFolder, from: 0, room: 100).map(\.next), [1, 2] + rows.map { 2 + $0.id })
    }

    func testEveryNameOnceWhateverTheRoomAndPageSize() {
        for listing in [operationFolder, cidFolder] {
            let expected = listing.fixed.map(\.name) + rows.map(\.name)
            for room in 1...12 {
                for pageSize in [1, 2, 3, 128] {
                    XCTAssertEqual(listAll(listing, room: room, pageSize: pageSize), expected, "room \(room), pages of \(pageSize)")
                }
            }
        }
        for room in 1...5 {
            XCTAssertEqual(listAll(staticFolder, room: room), [".", "..", "README", "cid"])
        }
    }

    /// Resuming at any offset handed out lists exactly what followed it.
    func testResumingAtAnyOffsetListsTheRestOnce() {
        for listing in [operationFolder, cidFolder, staticFolder] {
            let all = readdir(listing, from: 0, room: 1_000)
            for (index, entry) in all.enumerated() {
                let rest = readdir(listing, from: entry.next, room: 1_000)
                XCTAssertEqual(rest.map(\.name), all[(index + 1)...].map(\.name), "after \(entry.name) at \(entry.next)")
            }
        }
    }

    func testAnOffsetPastTheEndListsNothing() {
        XCTAssertTrue(readdir(operationFolder, from: 3 + 101, room: 10).isEmpty)
        XCTAssertTrue(readdir(staticFolder, from: 4, room: 10).isEmpty)
        XCTAssertTrue(readdir(staticFolder, from: 1_000, room: 10).isEmpty)
    }

    func testAFullReplyStopsWithoutAskingForMoreRows() {
        var pages = 0
        operationFolder.list(from: 0, page: { _ in pages += 1; return rows }, add: { _, _ in false })
        XCTAssertEqual(pages, 0, "full within the fixed entries")
        var listed = 0
        operationFolder.list(from: 0, page: { after in pages += 1; return after == 0 ? rows : [] }, add: { _, _ in
            listed += 1
            return listed <= 4
        })
        XCTAssertEqual(pages, 1)
    }

    func testRowsShowInformativeInodes() {
        var inodes: [UInt64] = []
        cidFolder.list(from: 2, page: { after in after == 0 ? [(5, "x")] : [] }, add: { entry, _ in
            inodes.append(entry.inode)
            XCTAssertFalse(entry.directory)
            return true
        })
        XCTAssertEqual(inodes, [DirectoryListing.rowInode(5)])
    }

    func testAFailingPageIsThrown() {
        struct Broken: Error {}
        XCTAssertThrowsError(try operationFolder.list(from: 3, page: { _ throws(Broken) in throw Broken() }, add: { _, _ in true }))
    }
}
