import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Credentials in a JSON file only its owner can read: mode 0600 in a 0700 folder, replaced
/// atomically so a crash never leaves half a file.
public struct FileCredentialStore: CredentialStore {
    public let fileURL: URL

    public init(fileURL: URL) {
        self.fileURL = fileURL
    }

    public var location: String { fileURL.path }

    /// `$XDG_CONFIG_HOME/devportal/credentials.json`, or `~/.config/devportal/credentials.json`
    /// when `XDG_CONFIG_HOME` is unset or not absolute (as the XDG base directory spec says).
    public static func standardLocation(environment: [String: String]) -> URL? {
        let base: String
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") {
            base = config
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            base = home + "/.config"
        } else {
            return nil
        }
        return URL(fileURLWithPath: base).appendingPathComponent("devportal").appendingPathComponent(
            "credentials.json"
        )
    }

    public func load() throws -> StoredCredentials? {
        let data: Data
        do {
            data = try Data(contentsOf: fileURL)
        } catch {
            if !FileManager.default.fileExists(atPath: fileURL.path) { return nil }
            throw CredentialStoreError(location: location, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try StoredCredentials.decoded(data, from: location)
    }

    public func save(_ credentials: StoredCredentials) throws {
        let folder = fileURL.deletingLastPathComponent()
        try makePrivateFolder(folder.path)
        let data = try credentials.encoded()
        let temporary = folder.appendingPathComponent(".\(fileURL.lastPathComponent).\(UUID().uuidString).tmp").path
        // Created 0600 from the start: never readable by others, not even for a moment.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        let written = data.withUnsafeBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            return fchmod(fd, 0o600) == 0 && fsync(fd) == 0
        }
        let writeError = written ? nil : failure("cannot write \(temporary)")
        close(fd)
        if let writeError {
            unlink(temporary)
            throw writeError
        }
        guard rename(temporary, fileURL.path) == 0 else {
            let error = failure("cannot replace the file")
            unlink(temporary)
            throw error
        }
        syncFolder(folder.path)
    }

    public func delete() throws {
        guard unlink(fileURL.path) == 0 || errno == ENOENT else { throw failure("cannot be deleted") }
    }

    /// Creates the folder (and missing parents) as 0700, and makes our own folder 0700 if it was wider.
    private func makePrivateFolder(_ path: String) throws {
        var isFolder: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            let parent = (path as NSString).deletingLastPathComponent
            if parent != path, !parent.isEmpty { try makePrivateFolder(parent) }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw failure("cannot create the folder \(path)") }
        } else if !isFolder.boolValue {
            throw CredentialStoreError(location: path, problem: "is not a folder")
        }
        if path == fileURL.deletingLastPathComponent().path {
            guard chmod(path, 0o700) == 0 else { throw failure("cannot make \(path) private") }
        }
    }

    /// Makes the rename durable.
    private func syncFolder(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private func failure(_ what: String) -> CredentialStoreError {
        CredentialStoreError(location: location, problem: "\(what): \(String(cString: strerror(errno)))")
    }
}
