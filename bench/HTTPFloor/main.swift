import Foundation
import Hummingbird

/// The floor of a hummingbird server on this machine (bench/http_bench.py):
/// one route that answers every POST to /v1/chat/completions with the same
/// bytes from memory. Usage: cidcache-http-floor PORT PAYLOAD_FILE.
@main
struct HTTPFloor {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3, let port = Int(arguments[1]),
              let payload = FileManager.default.contents(atPath: arguments[2]) else {
            FileHandle.standardError.write(Data("usage: cidcache-http-floor PORT PAYLOAD_FILE\n".utf8))
            exit(2)
        }
        let bytes = ByteBuffer(bytes: payload)
        let router = Router()
        router.post("/v1/chat/completions") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: bytes))
        }
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await application.runService()
    }
}
