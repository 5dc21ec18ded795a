// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "cidcache",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cidcache", targets: ["cidcache"]),
        .library(name: "CidCacheEngine", targets: ["CidCacheEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Its one trait makes a body's HTTP trailers readable (Kubo's `X-Stream-Error`); it brings no other package.
        // The trait's API may change in a minor release, so minor versions are taken by hand.
        .package(url: "https://github.com/swift-server/async-http-client", .upToNextMinor(from: "1.37.0"),
                 traits: ["UnstableHTTPAPIsSupport"]),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/CoreOffice/XMLCoder", from: "0.18.2"),
        // The HTTP front's server; its optional traits (swift-configuration, full Foundation) are not used.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Already under AsyncHTTPClient and hummingbird; named because the families and fronts use its buffers and loops.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries, each through a shim header.
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        // Linux calls glibc declares only under _GNU_SOURCE.
        .target(name: "CLinux"),

        // Identities: canonical JSON (RFC 8785), CIDs, digests, errors. No I/O.
        .target(name: "CidCacheCore", dependencies: ["CCrypto"]),
        // The persistent store: SQLite index and bodies by content CID.
        .target(name: "CidCacheStore", dependencies: [
            "CidCacheCore",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The upstream families and what they share (HTTP client, wire formats): Core plus AsyncHTTPClient
        // (and XMLCoder for S3's answers).
        .target(name: "CidCacheUpstreams", dependencies: [
            "CidCacheCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "XMLCoder", package: "XMLCoder"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The tier shared across machines on an S3-compatible bucket: layout, scopes, signed records,
        // sealing, the bucket's I/O (SigV4 from the families' toolkit) and the tier's lookup and uploads.
        .target(name: "CidCacheShared", dependencies: [
            "CidCacheCore", "CidCacheUpstreams",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The engine: config, TTL policy, single-flight, stats, over the store and the families.
        .target(name: "CidCacheEngine", dependencies: [
            "CidCacheCore", "CidCacheStore", "CidCacheUpstreams", "CidCacheShared", "CLinux",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The FUSE front: file operations translated into engine calls.
        .target(name: "CidCacheFUSE", dependencies: [
            "CidCacheEngine", "CidCacheCore", "CFuse",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The HTTP front: requests under /<namespace> translated into engine calls. It names the
        // operations' surface (routes, error formats, hop marks) from the families' module, never a family.
        .target(name: "CidCacheHTTP", dependencies: [
            "CidCacheEngine", "CidCacheCore", "CidCacheUpstreams",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The command-line front.
        .executableTarget(name: "cidcache", dependencies: [
            "CidCacheEngine", "CidCacheFUSE", "CidCacheHTTP", "CidCacheShared", "CidCacheCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // The engine in-process (bench/README.md); run by hand.
        .executableTarget(name: "cidcache-bench", dependencies: ["CidCacheEngine", "CidCacheCore"],
                          path: "bench/Engine"),
        // The floor of a hummingbird server (bench/http_bench.py): one route, bytes from memory; run by hand.
        .executableTarget(name: "cidcache-http-floor", dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
                          path: "bench/HTTPFloor"),

        .testTarget(name: "CidCacheCoreTests", dependencies: ["CidCacheCore"]),
        .testTarget(name: "CidCacheStoreTests", dependencies: [
            "CidCacheStore", "CidCacheCore", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The families tested directly, endpoints and operations built by hand, no engine.
        .testTarget(name: "CidCacheUpstreamsTests", dependencies: [
            "CidCacheUpstreams", "CidCacheCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "CidCacheSharedTests", dependencies: [
            "CidCacheShared", "CidCacheCore", "CidCacheUpstreams",
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "CidCacheEngineTests", dependencies: [
            "CidCacheEngine", "CidCacheStore", "CidCacheUpstreams", "CidCacheCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "CidCacheFUSETests", dependencies: ["CidCacheFUSE", "CidCacheEngine", "CidCacheUpstreams", "CidCacheCore"]),
        // The front in-process (HummingbirdTesting), its upstream a hummingbird app in the same process.
        .testTarget(name: "CidCacheHTTPTests", dependencies: [
            "CidCacheHTTP", "CidCacheEngine", "CidCacheUpstreams", "CidCacheCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

// The compiler keeps the layers: an import is internal unless a public signature needs it
// (`public import`), and a module's members are visible only where it is imported.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("InternalImportsByDefault"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
