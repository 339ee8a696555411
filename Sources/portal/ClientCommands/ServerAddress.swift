import DevicePortalClient
import Foundation

/// The `--server` argument: an http(s) URL without query or fragment, kept without a trailing slash.
enum ServerAddress {
    static func parse(_ text: String) throws -> URL {
        let invalid = ClientArguments.UsageError(
            message: "--server must be an http:// or https:// URL, such as https://portal.example.com (got \"\(text)\")"
        )
        guard var components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil, components.password == nil
        else { throw invalid }
        while components.path.hasSuffix("/") { components.path.removeLast() }
        guard let url = components.url else { throw invalid }
        return url
    }
}

extension ClientContext {
    /// Whether a command must not talk to `server`, having said why: plain http to another machine
    /// without `--insecure-http`. With it, plain http goes ahead after a warning.
    func refusesPlainHTTP(to server: URL, insecureHTTP: Bool) -> Bool {
        if PortalClient.isEncryptedOrLocal(server) { return false }
        let address = ServerText.singleLine(server.absoluteString)
        if insecureHTTP {
            printError(
                "warning: \(address) is plain http to another machine (--insecure-http): "
                    + "the token crosses the network unencrypted."
            )
            return false
        }
        printError("error: " + ClientMessages.plainHTTPRefused(server))
        return true
    }
}

/// The `device_name` sent to the server: printable, at most 100 characters (the server's limit).
enum DeviceName {
    static func clean(_ raw: String) -> String {
        let printable = raw.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }
        return String(String.UnicodeScalarView(printable).prefix(100)).trimmingCharacters(in: .whitespaces)
    }
}
