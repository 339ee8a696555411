import Fluent
import Foundation
import NIOConcurrencyHelpers
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("portal backup")
struct BackupCommandTests {
    /// A folder of its own for the database and its backups, removed afterwards.
    private func withFolder(_ body: (String) async throws -> Void) async throws {
        let folder = NSTemporaryDirectory() + "portal-backup-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await body(folder)
    }

    private func emails(_ app: Application) async throws -> Set<String> {
        Set(try await User.query(on: app.db).all().map(\.email))
    }

    @Test("a copy taken while rows are written opens, passes integrity_check and holds every row written before it")
    func liveCopy() async throws {
        try await withFolder { folder in
            let copy = folder + "backup.sqlite"
            var before: Set<String> = []
            try await withPortal({ $0.database = .sqliteFile(folder + "portal.sqlite") }) { app in
                // Arrange: rows, then a writer that keeps adding more while the backup runs.
                for index in 0..<20 {
                    try await User(email: "before\(index)@example.com", name: "Before", passwordHash: "x").create(
                        on: app.db
                    )
                }
                before = try await emails(app)
                let stop = NIOLockedValueBox(false)
                let writer = Task {
                    var index = 0
                    while !stop.withLockedValue({ $0 }) {
                        try await User(email: "during\(index)@example.com", name: "During", passwordHash: "x")
                            .create(on: app.db)
                        index += 1
                    }
                    return index
                }
                try await Task.sleep(for: .milliseconds(50))

                // Act.
                let printed = try await runCommand(app, "backup", ["--to", copy])  // MUT

                // Assert: the writer went on during and after the backup.
                try await Task.sleep(for: .milliseconds(50))
                stop.withLockedValue { $0 = true }
                #expect(try await writer.value > 0)
                #expect(printed.contains("Backed up sqlite://\(folder)portal.sqlite to \(copy)"), "\(printed)")
                #expect(printed.contains("portal.secret") || printed.contains("PORTAL_SECRET"))
            }
            let mode = try FileManager.default.attributesOfItem(atPath: copy)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            try await withPortal({ $0.database = .sqliteFile(copy) }) { restored in
                let check = try await restored.db.sql.raw("PRAGMA integrity_check").all()
                #expect(try check.map { try $0.decode(column: "integrity_check", as: String.self) } == ["ok"])
                #expect(try await emails(restored).isSuperset(of: before))
            }
        }
    }

    @Test("an existing file is refused and left as it was")
    func refusesToOverwrite() async throws {
        try await withFolder { folder in
            let target = folder + "precious.sqlite"
            try Data("not yours".utf8).write(to: URL(fileURLWithPath: target))
            try await withPortal({ $0.database = .sqliteFile(folder + "portal.sqlite") }) { app in
                let failure = await commandFailure(app, "backup", ["--to", target])  // MUT
                #expect(failure?.contains("\(target) already exists") == true, "\(failure ?? "accepted")")
                #expect(failure?.contains("never overwrites") == true)
            }
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "not yours")
        }
    }

    @Test("a missing --to or a folder that is not there: a clear message, no file")
    func badTargets() async throws {
        try await withFolder { folder in
            try await withPortal({ $0.database = .sqliteFile(folder + "portal.sqlite") }) { app in
                #expect(await commandFailure(app, "backup", []) == "Missing --to.")
                let failure = await commandFailure(app, "backup", ["--to", folder + "nowhere/backup.sqlite"])
                #expect(failure?.hasPrefix("Cannot create \(folder)nowhere/backup.sqlite") == true, "\(failure ?? "")")
            }
        }
    }

    @Test("PostgreSQL and an in-memory database are refused, PostgreSQL with a pointer to pg_dump")
    func refusesOtherDatabases() async throws {
        #expect(throws: CommandFailure.self) { try BackupCommand.sqliteFile(of: .sqliteMemory) }
        do {
            _ = try BackupCommand.sqliteFile(of: .postgres("postgres://portal:secret@db/portal"))  // MUT
            Issue.record("PostgreSQL was accepted")
        } catch {
            #expect(String(describing: error).contains("pg_dump"))
            #expect(!String(describing: error).contains("secret"))
        }
        // The whole command on the suite's own database: refused on PostgreSQL, a copy on SQLite.
        try await withFolder { folder in
            try await withPortal { app in
                let outcome = await commandFailure(app, "backup", ["--to", folder + "backup.sqlite"])
                if case .postgres = app.config.database {
                    #expect(outcome?.contains("uses PostgreSQL: back it up with pg_dump") == true, "\(outcome ?? "")")
                    #expect(!FileManager.default.fileExists(atPath: folder + "backup.sqlite"))
                } else {
                    #expect(outcome == nil)
                    #expect(FileManager.default.fileExists(atPath: folder + "backup.sqlite"))
                }
            }
        }
    }
}
