import Synchronization

/// A dictionary split over several locks by the hash of the key, so FUSE
/// worker threads opening different entries rarely wait on one another (one
/// lock on every open was the main cost of a hit at 8 threads on 2 cores).
final class ShardedMap<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private final class Shard: Sendable {
        let map = Mutex<[Key: Value]>([:])
    }
    private let shards: [Shard]
    /// Entries a shard holds at most; past it the shard starts over (a cache, not a record).
    private let shardCapacity: Int

    /// - Parameter capacity: entries kept at most over all shards (`.max` for a map that is drained instead).
    init(capacity: Int = .max, shardCount: Int = 16) {
        shards = (0..<shardCount).map { _ in Shard() }
        shardCapacity = capacity == .max ? .max : max(1, capacity / shardCount)
    }

    private func shard(_ key: Key) -> Shard {
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }

    subscript(key: Key) -> Value? {
        shard(key).map.withLock { $0[key] }
    }

    /// Changes the value of one key under its shard's lock.
    func update(_ key: Key, _ change: (inout Value?) -> Void) {
        shard(key).map.withLock { map in
            var value = map.removeValue(forKey: key)
            change(&value)
            guard let value else { return }
            if map.count >= shardCapacity { map.removeAll(keepingCapacity: true) }
            map[key] = value
        }
    }

    /// Empties the map and returns what it held.
    func drain() -> [(key: Key, value: Value)] {
        shards.flatMap { shard in
            shard.map.withLock { map -> [(key: Key, value: Value)] in
                defer { map.removeAll() }
                return map.map { ($0.key, $0.value) }
            }
        }
    }
}
