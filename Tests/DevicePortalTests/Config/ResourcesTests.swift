import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Where Templates/ and Public/ are found")
struct ResourcesTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let testDescription: String
        var setting: String? = nil
        var workingDirectory = "/srv/"
        var executableDirectory: String? = "/opt/portal"
        /// The folders that hold both.
        let holding: Set<String>
        let chosen: String?
        let searched: [String]
    }

    static let cases: [Case] = [
        Case(
            testDescription: "PORTAL_RESOURCES wins over the other two",
            setting: "/usr/share/portal",
            holding: ["/usr/share/portal/", "/srv/", "/opt/portal/"],
            chosen: "/usr/share/portal/",
            searched: ["/usr/share/portal/"]
        ),
        Case(
            testDescription: "PORTAL_RESOURCES without them: no other folder is used",
            setting: "/usr/share/portal/",
            holding: ["/srv/", "/opt/portal/"],
            chosen: nil,
            searched: ["/usr/share/portal/"]
        ),
        Case(
            testDescription: "a relative PORTAL_RESOURCES is taken from the working directory",
            setting: "share/../res",
            holding: ["/srv/res/"],
            chosen: "/srv/res/",
            searched: ["/srv/res/"]
        ),
        Case(
            testDescription: "an empty PORTAL_RESOURCES counts as unset",
            setting: "",
            holding: ["/srv/"],
            chosen: "/srv/",
            searched: ["/srv/", "/opt/portal/"]
        ),
        Case(
            testDescription: "unset: the working directory first",
            holding: ["/srv/", "/opt/portal/"],
            chosen: "/srv/",
            searched: ["/srv/", "/opt/portal/"]
        ),
        Case(
            testDescription: "unset: beside the executable when the working directory has none",
            workingDirectory: "/",
            holding: ["/opt/portal/"],
            chosen: "/opt/portal/",
            searched: ["/", "/opt/portal/"]
        ),
        Case(
            testDescription: "nowhere: every place looked in is named",
            holding: [],
            chosen: nil,
            searched: ["/srv/", "/opt/portal/"]
        ),
        Case(
            testDescription: "an executable whose folder is unknown",
            executableDirectory: nil,
            holding: ["/opt/portal/"],
            chosen: nil,
            searched: ["/srv/"]
        ),
        Case(
            testDescription: "started from the executable's folder: looked in once",
            workingDirectory: "/opt/portal",
            holding: [],
            chosen: nil,
            searched: ["/opt/portal/"]
        ),
    ]

    @Test("the choice between PORTAL_RESOURCES, the working directory and the executable's folder", arguments: cases)
    func choice(_ expected: Case) {
        let resources = PortalResources.choose(
            setting: expected.setting,
            workingDirectory: expected.workingDirectory,
            executableDirectory: expected.executableDirectory,
            holdsResources: expected.holding.contains
        )  // MUT
        #expect(resources.directory == expected.chosen)
        #expect(resources.searched.map(\.directory) == expected.searched)
    }

    @Test("every template of the repository is required, and every required file is in it")
    func requiredFilesAreTheRepositorys() throws {
        let templates = try #require(FileManager.default.enumerator(atPath: packageRoot + "Templates"))
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".leaf") }.map { "Templates/" + $0 }
        #expect(Set(templates) == Set(PortalResources.requiredFiles.filter { $0.hasPrefix("Templates/") }))
        #expect(PortalResources.missingFiles(in: packageRoot) == [])
    }

    @Test("PORTAL_RESOURCES is read into the configuration")
    func setting() throws {
        let found = try PortalConfig.fromEnvironment { $0 == "PORTAL_RESOURCES" ? packageRoot : nil }
        #expect(found.resources?.chosen == .init(directory: packageRoot, origin: .setting))
        let missing = try PortalConfig.fromEnvironment { $0 == "PORTAL_RESOURCES" ? "/nonexistent/portal" : nil }
        #expect(missing.resources?.chosen == nil)
        #expect(missing.resources?.searched.map(\.directory) == ["/nonexistent/portal/"])
    }

    @Test("a server started without them stops at once with a message naming PORTAL_RESOURCES")
    func refusal() async throws {
        let empty = NSTemporaryDirectory() + "portal-no-resources-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let app = try await Application.make(Environment(name: "testing", arguments: ["portal", "serve"]))
        app.directory = DirectoryConfiguration(workingDirectory: empty)
        let resources = PortalResources.choose(
            setting: nil,
            workingDirectory: empty,
            executableDirectory: empty + "bin",
            holdsResources: { _ in false }
        )
        let config = PortalConfig(database: .sqliteFile(empty + "portal.sqlite"), bcryptCost: 4, resources: resources)
        var message = ""
        do {
            try configure(app, with: config)  // MUT
        } catch {
            message = String(describing: error)
        }
        try await app.asyncShutdown()
        #expect(message.contains("Set PORTAL_RESOURCES to the folder that holds both"), "\(message)")
        #expect(message.contains("\(empty) (the working directory), \(empty)bin/ (beside the executable)"))
        #expect(message.contains("Templates/layout.leaf"))
        // Stopped before anything was written (no database, no portal.secret).
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty) == [])
    }

    @Test("a PORTAL_RESOURCES without them is refused even where the working directory has them")
    func noFallback() async throws {
        let app = try await Application.make(Environment(name: "testing", arguments: ["portal", "demo"]))
        app.directory = DirectoryConfiguration(workingDirectory: packageRoot)
        let resources = PortalResources.choose(
            setting: "/nonexistent/portal",
            workingDirectory: packageRoot,
            executableDirectory: nil,
            holdsResources: { PortalResources.missingFiles(in: $0).isEmpty }
        )
        var message = ""
        do {
            try configure(app, with: PortalConfig(database: .sqliteMemory, bcryptCost: 4, resources: resources))  // MUT
        } catch {
            message = String(describing: error)
        }
        try await app.asyncShutdown()
        #expect(message.contains("(looked in /nonexistent/portal/ (PORTAL_RESOURCES); missing"), "\(message)")
    }

    @Test("pages and static files come from the chosen folder, not the working directory")
    func servesFromTheChosenFolder() async throws {
        let copy = NSTemporaryDirectory() + "portal-resources-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        for folder in ["Templates", "Public"] {
            try FileManager.default.copyItem(atPath: packageRoot + folder, toPath: copy + folder)
        }
        let marker = "/* served from the copy \(UUID().uuidString) */"
        let css = URL(fileURLWithPath: copy + "Public/css/portal.css")
        try (try String(contentsOf: css, encoding: .utf8) + marker).write(to: css, atomically: true, encoding: .utf8)
        let resources = PortalResources.choose(
            setting: copy,
            workingDirectory: packageRoot,
            executableDirectory: nil,
            holdsResources: { PortalResources.missingFiles(in: $0).isEmpty }
        )
        try await withPortal({ $0.resources = resources }) { app in
            #expect(app.directory.viewsDirectory == copy + "Templates/")
            #expect(app.directory.publicDirectory == copy + "Public/")
            try await app.testing().test(.GET, "/login") { #expect($0.status == .ok) }
            try await app.testing().test(.GET, "/css/portal.css") { #expect($0.body.string.hasSuffix(marker)) }
        }
    }
}
