import Foundation

/// The `--server` argument: an http(s) URL without query or fragment, kept without a trailing slash.
enum ServerAddress {
    static func parse(_ text: String) throws -> URL {
        let invalid = ClientArguments.UsageError(
            message: "--server must be an http:// or https:// URL, such as https://portal.example.com (got \"\(text)\")"
        )
        guard var components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else { throw invalid }
        while components.path.hasSuffix("/") { components.path.removeLast() }
        guard let url = components.url else { throw invalid }
        return url
    }

    /// Plain http is fine on this machine; anywhere else it sends the token in the clear.
    static func plainHTTPWarning(_ server: URL) -> String? {
        guard server.scheme?.lowercased() == "http", let host = server.host?.lowercased() else { return nil }
        let loopback =
            host == "localhost" || host.hasSuffix(".localhost") || host.hasPrefix("127.") || host == "::1"
            || host == "[::1]"
        return loopback
            ? nil : "\(server.absoluteString) is plain http: the token will cross the network unencrypted. Use https."
    }
}

/// The `device_name` sent to the server: printable, at most 100 characters (the server's limit).
enum DeviceName {
    static func clean(_ raw: String) -> String {
        let printable = raw.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }
        return String(String.UnicodeScalarView(printable).prefix(100)).trimmingCharacters(in: .whitespaces)
    }
}
