import Foundation

extension PortalClient {
    /// This package's version: the one place it is kept. `portal` and the library name it in the
    /// `User-Agent` they send.
    public static let version = "1.0.0"

    /// The `User-Agent` a client sends unless given another, such as `DevicePortalClient/1.0.0 (Linux)`.
    public static let defaultUserAgent = userAgent(product: "DevicePortalClient/\(version)")

    /// A `User-Agent` naming `product` (RFC 9110 §10.1.5, `name/version`) and this operating
    /// system, such as `acme-desktop/2.3 (macOS 15.1)`. The portal's approval page shows it to the
    /// person as the software asking to sign in.
    public static func userAgent(product: String) -> String {
        "\(product) (\(operatingSystem))"
    }

    /// `macOS 15.1`, `Linux`: the system's name, with its version where Foundation knows it.
    static var operatingSystem: String {
        #if os(macOS) || os(iOS) || os(Windows)
            let version = ProcessInfo.processInfo.operatingSystemVersion
            let number =
                "\(version.majorVersion).\(version.minorVersion)"
                + (version.patchVersion > 0 ? ".\(version.patchVersion)" : "")
        #endif
        #if os(macOS)
            return "macOS \(number)"
        #elseif os(iOS)
            return "iOS \(number)"
        #elseif os(Windows)
            return "Windows \(number)"
        #elseif os(Linux)
            return "Linux"
        #else
            return "unknown system"
        #endif
    }

    /// `text` as a header value: visible ASCII and spaces only (a line break would end the header
    /// and start another), at most 200 characters; `nil` when nothing is left.
    static func headerValue(_ text: String) -> String? {
        let kept = String(String.UnicodeScalarView(text.unicodeScalars.filter { (0x20...0x7e).contains($0.value) }))
        let value = String(kept.trimmingCharacters(in: .whitespaces).prefix(200))
        return value.isEmpty ? nil : value
    }
}
