import DevicePortalClient
import Foundation
import Testing

@Suite("Client: credential stores")
struct CredentialStoreTests {
    let credentials = StoredCredentials(
        server: URL(string: "https://portal.example.com")!,
        clientID: "desktop",
        token: AccessToken(String(repeating: "c0", count: 32))
    )

    @Test("the file store writes a 0600 file in a 0700 folder, atomically, and reads it back")
    func fileStore() async throws {
        let home = try TemporaryFolder()
        defer { home.remove() }
        let file = try #require(FileCredentialStore.standardLocation(environment: ["XDG_CONFIG_HOME": home.path]))
        #expect(file.path == home.path + "/devportal/credentials.json")
        let store = FileCredentialStore(fileURL: file)
        #expect(try store.load() == nil)

        try store.save(credentials)  // MUT

        #expect(try posixMode(file.path) == 0o600)
        #expect(try posixMode(file.deletingLastPathComponent().path) == 0o700)
        #expect(try store.load() == credentials)
        let json = try String(contentsOf: file, encoding: .utf8)
        #expect(json.contains("\"client_id\" : \"desktop\""))
        #expect(json.contains("\"server\" : \"https://portal.example.com\""))
        // Replaced, not appended to, and no temporary file left behind.
        var other = credentials
        other.token = AccessToken(String(repeating: "d1", count: 32))
        try store.save(other)
        #expect(try store.load() == other)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path) == [
                "credentials.json"
            ]
        )
        try store.delete()
        #expect(try store.load() == nil)
        try store.delete()
    }

    @Test("a folder that others could read is made private; a file with another mode is replaced with 0600")
    func tightensPermissions() async throws {
        let home = try TemporaryFolder()
        defer { home.remove() }
        let folder = home.url.appendingPathComponent("devportal")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        chmod(folder.path, 0o755)
        let file = folder.appendingPathComponent("credentials.json")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data("{}".utf8))
        chmod(file.path, 0o644)

        try FileCredentialStore(fileURL: file).save(credentials)  // MUT

        #expect(try posixMode(folder.path) == 0o700)
        #expect(try posixMode(file.path) == 0o600)
    }

    @Test("without XDG_CONFIG_HOME (or with a relative one) the file is under ~/.config")
    func standardLocation() {
        #expect(
            FileCredentialStore.standardLocation(environment: ["HOME": "/home/ada"])?.path
                == "/home/ada/.config/devportal/credentials.json"
        )
        #expect(
            FileCredentialStore.standardLocation(environment: ["HOME": "/home/ada", "XDG_CONFIG_HOME": "rel"])?.path
                == "/home/ada/.config/devportal/credentials.json"
        )
        #expect(FileCredentialStore.standardLocation(environment: [:]) == nil)
    }

    @Test("an unreadable file is an error that names it, never a silent sign-out")
    func corruptFile() async throws {
        let home = try TemporaryFolder()
        defer { home.remove() }
        let file = home.url.appendingPathComponent("credentials.json")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data("not json".utf8))
        #expect(throws: CredentialStoreError.self) { try FileCredentialStore(fileURL: file).load() }
    }

    @Test("printing or dumping credentials never shows the token")
    func redacted() {
        let token = credentials.token.value
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in [String(describing: credentials), String(reflecting: credentials), "\(credentials.token)", dumped] {
            #expect(!text.contains(token), "\(text)")
        }
    }

    #if !canImport(Security)
        @Test("on Linux: the Secret Service needs both secret-tool and a session bus, else the file store is used")
        func linuxChoice() throws {
            let tools = try TemporaryFolder()
            defer { tools.remove() }
            let fake = tools.url.appendingPathComponent("secret-tool")
            _ = FileManager.default.createFile(atPath: fake.path, contents: Data("#!/bin/sh\n".utf8))
            chmod(fake.path, 0o755)
            let base = ["HOME": "/home/ada", "PATH": tools.path]

            #expect(try CredentialStores.platformDefault(environment: base) is FileCredentialStore)
            let noTool = ["HOME": "/home/ada", "PATH": "/nonexistent", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"]
            #expect(try CredentialStores.platformDefault(environment: noTool) is FileCredentialStore)
            let both = base.merging(["DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"]) { $1 }
            #expect(try CredentialStores.platformDefault(environment: both) is SecretServiceCredentialStore)
        }

        @Test("every store the session offers is listed, the keyring first, so a sign-in is found from any session")
        func allStores() throws {
            let tools = try TemporaryFolder()
            defer { tools.remove() }
            let fake = tools.url.appendingPathComponent("secret-tool")
            _ = FileManager.default.createFile(atPath: fake.path, contents: Data("#!/bin/sh\n".utf8))
            chmod(fake.path, 0o755)
            let overSSH = ["HOME": "/home/ada", "PATH": tools.path]
            let desktop = overSSH.merging(["DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"]) { $1 }
            let file = "/home/ada/.config/devportal/credentials.json"

            #expect(try CredentialStores.all(environment: overSSH).map(\.location) == [file])  // MUT
            let stores = try CredentialStores.all(environment: desktop)  // MUT
            #expect(stores.count == 2)
            #expect(stores.first is SecretServiceCredentialStore)
            #expect(stores.last?.location == file)
            #expect(throws: CredentialStoreError.self) {
                try CredentialStores.all(environment: ["PATH": "/nonexistent"])
            }
        }

        @Test("the Secret Service store hands the secret to secret-tool on stdin, never on its command line")
        func secretToolPlumbing() throws {
            let tools = try TemporaryFolder()
            defer { tools.remove() }
            // A stand-in for libsecret's secret-tool that keeps the secret in a file and logs its arguments.
            let fake = tools.url.appendingPathComponent("secret-tool")
            let script = """
                #!/bin/sh
                echo "$@" >> "\(tools.path)/arguments"
                case "$1" in
                  store) cat > "\(tools.path)/secret" ;;
                  lookup) [ -f "\(tools.path)/secret" ] || exit 1; cat "\(tools.path)/secret" ;;
                  clear) rm -f "\(tools.path)/secret" ;;
                esac
                """
            _ = FileManager.default.createFile(atPath: fake.path, contents: Data(script.utf8))
            chmod(fake.path, 0o755)
            let store = try #require(
                SecretServiceCredentialStore(
                    environment: ["PATH": tools.path + ":/usr/bin:/bin", "DBUS_SESSION_BUS_ADDRESS": "unix:x"])
            )

            #expect(try store.load() == nil)
            try store.save(credentials)  // MUT
            #expect(try store.load() == credentials)
            try store.delete()
            #expect(try store.load() == nil)
            let arguments = try String(contentsOf: tools.url.appendingPathComponent("arguments"), encoding: .utf8)
            #expect(arguments.contains("store --label=DevicePortal sign-in application devportal kind credentials"))
            #expect(!arguments.contains(credentials.token.value))
        }

        /// Never skipped: on a machine with a session bus and `secret-tool` this exercises the real
        /// Secret Service; elsewhere (CI) it checks that the private file is chosen and works.
        @Test("the store this machine offers keeps and forgets the credentials")
        func platformStore() throws {
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("devportal-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: home) }
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_CONFIG_HOME"] = home.path
            let store: any CredentialStore
            if SecretServiceCredentialStore(environment: environment) != nil {
                store = try #require(
                    SecretServiceCredentialStore(
                        environment: environment,
                        application: "devportal-test-\(UUID().uuidString)"
                    )
                )
            } else {
                store = try CredentialStores.platformDefault(environment: environment)
                #expect(store is FileCredentialStore)
            }
            defer { try? store.delete() }
            #expect(try store.load() == nil)
            try store.save(credentials)  // MUT
            #expect(try store.load() == credentials)
            try store.delete()
            #expect(try store.load() == nil)
        }
    #endif
}
