import Foundation

/// Where `next` may send someone after sign-in: a path on this portal, nothing else.
enum SafeRedirect {
    static let fallback = "/auth/device"

    static func target(_ next: String?) -> String {
        guard let next, next.fits(2_000), next.hasPrefix("/"), !next.hasPrefix("//"),
            !next.contains("\\"), !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }),
            let url = URLComponents(string: next), url.scheme == nil, url.host == nil
        else { return fallback }
        return next
    }
}
