import Vapor

/// Password rules and bcrypt settings.
enum Passwords {
    static let minLength = 8
    /// bcrypt reads only the first 72 bytes; a longer password would be silently cut.
    static let maxBytes = 72

    static func problem(with password: String) -> String? {
        if password.count < minLength { return "The password must have at least \(minLength) characters." }
        if password.utf8.count > maxBytes { return "The password must be at most \(maxBytes) bytes long." }
        return nil
    }
}

extension Application {
    private struct DummyPasswordHashKey: StorageKey {
        typealias Value = String
    }

    /// A bcrypt hash at the configured cost, checked when an email is unknown so that
    /// an unknown email and a wrong password take the same time.
    var dummyPasswordHash: String {
        get { storage[DummyPasswordHashKey.self] ?? "" }
        set { storage[DummyPasswordHashKey.self] = newValue }
    }
}
