// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "DevicePortal",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "portal", targets: ["portal"]),
        // The desktop side of the device flow: Foundation only, for apps that sign in to a portal.
        .library(name: "DevicePortalClient", targets: ["DevicePortalClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        // Named although fluent-sqlite-driver brings it: PortalDatabase's SQLiteReader calls the
        // SQLite that sqlite-nio compiles in (its `VaporCSQLite` target, symbols `sqlite_nio_…`),
        // which is not a public product. Kept to the minor version tested here, so that a release
        // renaming those symbols cannot reach a fresh clone unnoticed.
        .package(url: "https://github.com/vapor/sqlite-nio.git", .upToNextMinor(from: "1.13.2")),
        .package(url: "https://github.com/vapor/leaf.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt.git", from: "5.2.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .target(
            name: "DevicePortal",
            dependencies: [
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "Leaf", package: "leaf"),
                .product(name: "JWT", package: "jwt"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Only for `BoundedHTTPClient`'s cap on an answer's size; Vapor's client uses it too.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                "CMagic",
                "PortalDatabase",
                "SMTPClient",
            ],
            swiftSettings: swiftSettings
        ),
        // The hand-tuned database access of the hot paths: the guard's read-only SQLite
        // connections, the poll's SQLite writer, statements written once for SQLite and
        // PostgreSQL (prepared or unnamed), and what counts as the database being away.
        .target(
            name: "PortalDatabase",
            dependencies: [
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A small SMTP client (no SMTP library is among the packages the build may use): it knows
        // nothing of the portal, so that a kept library can replace it.
        .target(
            name: "SMTPClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // libmagic (file(1)'s library), which recognises uploaded logos from their bytes.
        .systemLibrary(
            name: "CMagic",
            providers: [.apt(["libmagic-dev"]), .brew(["libmagic"])]
        ),
        .target(
            name: "DevicePortalClient",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "portal",
            dependencies: ["DevicePortal", "DevicePortalClient"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DevicePortalTests",
            dependencies: [
                "DevicePortal",
                "DevicePortalClient",
                "PortalDatabase",
                "portal",
                .product(name: "VaporTesting", package: "vapor"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "JWT", package: "jwt"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SMTPClientTests",
            dependencies: [
                "SMTPClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
