import Foundation

/// Opens a web page in the person's browser: `open` on macOS, `xdg-open` elsewhere.
enum BrowserOpener {
    /// Whether a browser was asked to open `url` (an http(s) URL the client has checked).
    static func open(_ url: URL, environment: [String: String]) -> Bool {
        #if os(macOS)
            let tool = URL(fileURLWithPath: "/usr/bin/open")
        #else
            // Without a display, xdg-open falls back to a text browser that would take over this
            // terminal while the command waits: print the link instead.
            let display = ["DISPLAY", "WAYLAND_DISPLAY"].contains { !(environment[$0] ?? "").isEmpty }
            guard display, let tool = find("xdg-open", path: environment["PATH"] ?? "/usr/bin:/bin") else {
                return false
            }
        #endif
        let process = Process()
        process.executableURL = tool
        process.arguments = [url.absoluteString]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            return true
        } catch {
            return false
        }
    }

    private static func find(_ name: String, path: String) -> URL? {
        path.split(separator: ":").lazy
            .map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
