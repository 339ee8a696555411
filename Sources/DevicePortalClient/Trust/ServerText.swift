/// Text a server sent, made safe to show: a hostile server must not be able to clear a terminal,
/// move its cursor, fake a line of output, write the clipboard (OSC 52) or reorder what is shown.
public enum ServerText {
    /// `text` on one line: C0 and C1 controls and DEL removed (line breaks and tabs become a
    /// space), bidirectional marks, embeddings, overrides and isolates removed, at most `limit`
    /// characters (Unicode scalars) followed by "…" when cut.
    public static func singleLine(_ text: String, limit: Int = 200) -> String {
        var kept = String.UnicodeScalarView()
        var count = 0
        for scalar in text.unicodeScalars {
            let shown: Unicode.Scalar
            if isLineBreakOrTab(scalar) {
                shown = " "
            } else if isPrintable(scalar) {
                shown = scalar
            } else {
                continue
            }
            if count == limit { return String(kept) + "…" }
            kept.append(shown)
            count += 1
        }
        return String(kept)
    }

    /// Whether `scalar` may reach a terminal as it is: not a C0 or C1 control, not DEL, not a
    /// line or paragraph separator, not a bidirectional formatting character.
    public static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: false
        case 0x2028, 0x2029: false
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: false
        default: true
        }
    }

    private static func isLineBreakOrTab(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }
}
