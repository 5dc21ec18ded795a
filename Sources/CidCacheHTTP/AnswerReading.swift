import CidCacheEngine

extension ResponseBody {
    /// What lies at `offset` (at most `limit` bytes), once there is something.
    func chunk(at offset: Int, limit: Int) async -> Chunk {
        await withCheckedContinuation { continuation in
            read(at: offset, limit: limit) { continuation.resume(returning: $0) }
        }
    }

    /// Hands every piece of the body to `write` in order, as it arrives;
    /// throws the failure that cut it short, after the bytes before it.
    func forEachPiece(_ write: (ArraySlice<UInt8>) async throws -> Void) async throws {
        var offset = 0
        while true {
            switch await chunk(at: offset, limit: 1 << 16) {
            case .bytes(let piece):
                try await write(piece)
                offset += piece.count
            case .end: return
            case .failed(let error): throw error
            }
        }
    }
}
