/// The short code a person types: 8 letters from an alphabet without vowels (no words)
/// and without look-alikes, shown as `XXXX-XXXX`; stored without the dash.
enum UserCode {
    static let alphabet = Array("BCDFGHJKLMNPQRSTVWXZ")
    static let length = 8

    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// Accepts any case, with or without the dash or spaces; `nil` when it cannot be a user code.
    static func normalize(_ input: String) -> String? {
        guard input.fits(32) else { return nil }
        let code = input.uppercased().filter { $0 != "-" && !$0.isWhitespace }
        guard code.count == length, code.allSatisfy(alphabet.contains) else { return nil }
        return code
    }

    static func display(_ code: String) -> String {
        "\(code.prefix(4))-\(code.dropFirst(4))"
    }
}
