import Foundation

/// The `wait` preference of RFC 7240 (`Prefer: wait=10`), as the token endpoint applies it.
enum PreferWait {
    /// The longest a poll is held, seconds.
    static let longest = 30

    /// The seconds a client asks to wait, cut to `longest`; `nil` when no `Prefer` header holds a
    /// valid `wait` (a missing, zero, negative or malformed value is ignored, as RFC 7240 §2 lets
    /// a server ignore any preference it does not understand).
    static func seconds(in headers: [String]) -> Int? {
        for header in headers {
            for preference in header.split(separator: ",") {
                // token [BWS "=" BWS word] *( OWS ";" [ OWS parameter ] ): parameters do not apply to wait.
                let head = preference.split(separator: ";", maxSplits: 1).first ?? ""
                let parts = head.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].lowercased() == "wait" else { continue }
                let value =
                    parts[1].hasPrefix("\"") && parts[1].hasSuffix("\"") && parts[1].count >= 2
                    ? String(parts[1].dropFirst().dropLast()) : parts[1]
                guard value.utf8.count <= 10, value.utf8.allSatisfy({ (48...57).contains($0) }),
                    let seconds = Int(value),
                    seconds >= 1
                else { return nil }
                return min(seconds, longest)
            }
        }
        return nil
    }
}
