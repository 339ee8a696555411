import Vapor

/// Serves files from `Public/`, but only for paths under its top-level entries (listed
/// once at start-up), so the API's hot paths never touch the file system.
struct PublicFilesMiddleware: Middleware {
    let files: FileMiddleware
    let prefixes: [String]
    let publicDirectory: String

    init(publicDirectory: String) {
        self.publicDirectory = publicDirectory
        files = FileMiddleware(publicDirectory: publicDirectory)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: publicDirectory)) ?? []
        prefixes = entries.filter { !$0.hasPrefix(".") }.map { "/" + $0 }
    }

    func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let path = request.url.path
        guard prefixes.contains(where: { path == $0 || path.hasPrefix($0 + "/") }), isFile(path) else {
            return next.respond(to: request)
        }
        return files.respond(to: request, chainingTo: next)
    }

    /// Only a regular file is served, at its exact path: FileMiddleware answers 500 for a path
    /// below a file (`stat` fails with ENOTDIR) and serves `/file/` as the file.
    private func isFile(_ path: String) -> Bool {
        guard !path.hasSuffix("/"), let decoded = path.removingPercentEncoding else { return false }
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: publicDirectory + decoded, isDirectory: &isDirectory)
        return exists && !isDirectory.boolValue
    }
}
