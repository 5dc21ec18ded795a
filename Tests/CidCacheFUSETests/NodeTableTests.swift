@testable import CidCacheFUSE
import XCTest

/// Inode numbers and the kernel's lookup counts: static nodes live for the
/// mount, dynamic ones until the kernel forgets every lookup of them, and no
/// number is ever given to another node.
final class NodeTableTests: XCTestCase {
    private let statics: [Node] = [.readme, .cidDirectory, .apiDirectory, .namespaceDirectory("openai"),
                                   .operationDirectory(namespace: "openai", op: "embeddings"),
                                   .query(namespace: "openai", op: "embeddings")]
    private let entry = Node.entry(namespace: "openai", op: "embeddings", requestCID: "bagaaiera", id: 7)
    private let content = Node.content(cid: "bafkrei", size: 12)

    func testStaticNodesAreNumberedAtMountAndLookedUpToTheSameNumber() throws {
        let table = NodeTable(staticNodes: [.root] + statics)
        XCTAssertEqual(table.node(NodeTable.rootInode), .root)
        var seen: Set<UInt64> = [NodeTable.rootInode]
        for node in statics {
            let inode = try XCTUnwrap(table.inode(of: node))
            XCTAssertTrue(seen.insert(inode).inserted, "\(node) shares a number")
            XCTAssertEqual(table.node(inode), node)
            XCTAssertEqual(table.lookUp(node), inode)
        }
    }

    func testStaticNodesAreNeverFreed() throws {
        let table = NodeTable(staticNodes: statics)
        let query = try XCTUnwrap(table.inode(of: .query(namespace: "openai", op: "embeddings")))
        for _ in 0..<3 { _ = table.lookUp(.query(namespace: "openai", op: "embeddings")) }
        table.forget(query, count: 1_000)
        table.forget(NodeTable.rootInode, count: 1)
        XCTAssertEqual(table.node(query), .query(namespace: "openai", op: "embeddings"))
        XCTAssertEqual(table.node(NodeTable.rootInode), .root)
        XCTAssertEqual(table.lookUp(.query(namespace: "openai", op: "embeddings")), query)
    }

    func testADynamicNodeLivesUntilEveryLookupIsForgotten() {
        let table = NodeTable(staticNodes: statics)
        let inode = table.lookUp(entry)
        XCTAssertEqual(table.lookUp(entry), inode)
        XCTAssertEqual(table.lookUp(entry), inode)
        table.forget(inode, count: 2)
        XCTAssertEqual(table.node(inode), entry, "one lookup is left")
        table.forget(inode, count: 1)
        XCTAssertNil(table.node(inode), "forgotten: the number answers ENOENT")
    }

    func testAForgottenNumberIsNeverGivenAgain() {
        let table = NodeTable(staticNodes: statics)
        let first = table.lookUp(entry)
        table.forget(first, count: 1)
        let again = table.lookUp(entry)
        XCTAssertNotEqual(again, first, "the same node looked up again gets a new number")
        let other = table.lookUp(content)
        XCTAssertNotEqual(other, first)
        XCTAssertNil(table.node(first))
        XCTAssertEqual(table.node(again), entry)
        XCTAssertEqual(table.node(other), content)
    }

    func testAForgetOfMoreThanWasLookedUpFreesTheNodeAndAnUnknownNumberIsIgnored() {
        let table = NodeTable(staticNodes: statics)
        let inode = table.lookUp(content)
        table.forget(inode, count: 5)
        XCTAssertNil(table.node(inode))
        table.forget(inode, count: 1)
        table.forget(999_999, count: 1)
        XCTAssertNil(table.node(999_999))
        XCTAssertEqual(table.node(table.lookUp(content)), content)
    }

    /// A refetched entry (a new row id) is a new node with its own number,
    /// so the kernel never serves the old one's pages for it.
    func testARefetchedEntryIsANewInode() {
        let table = NodeTable(staticNodes: statics)
        let old = table.lookUp(entry)
        let refetched = Node.entry(namespace: "openai", op: "embeddings", requestCID: "bagaaiera", id: 8)
        let new = table.lookUp(refetched)
        XCTAssertNotEqual(old, new)
        table.forget(old, count: 1)
        XCTAssertEqual(table.node(new), refetched)
    }

    func testConcurrentLookupsAndForgetsBalance() {
        let table = NodeTable(staticNodes: statics), entry = self.entry
        let inode = table.lookUp(entry)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<1_000 {
                XCTAssertEqual(table.lookUp(entry), inode)
                table.forget(inode, count: 1)
            }
        }
        XCTAssertEqual(table.node(inode), entry)
        table.forget(inode, count: 1)
        XCTAssertNil(table.node(inode))
    }
}
