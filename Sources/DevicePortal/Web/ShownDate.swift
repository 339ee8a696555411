import Foundation

/// A moment as every page shows it to people: the date and time, how long ago or how soon,
/// and the exact value for `<time datetime="…">`. Templates write
/// `<time datetime="#(d.exact)">#(d.date)</time> (#(d.relative))`; never RFC 3339 as text.
struct ShownDate: Encodable, Sendable, Equatable {
    /// RFC 3339, for machines.
    let exact: String
    /// "1 Dec 2026, 17:50 UTC": the server knows no reader's time zone, so it names its own.
    let date: String
    /// "3 hours ago", "in 6 days", "less than a minute ago".
    let relative: String

    init(_ moment: Date, now: Date) {
        exact = moment.formatted(.iso8601)
        date = Self.dateText(moment)
        relative = Self.relative(moment, now: now)
    }

    /// Rounded to the nearest unit, as people say it: 6 days and 23 hours is "in 7 days".
    static func relative(_ moment: Date, now: Date) -> String {
        let seconds = moment.timeIntervalSince(now)
        let span = abs(seconds)
        func rounded(_ unit: Double) -> Int { Int((span / unit).rounded()) }
        let amount: String
        if span < 45 {
            return seconds < 0 ? "less than a minute ago" : "in less than a minute"
        } else if rounded(60) < 60 {
            amount = Wording.count(max(1, rounded(60)), "minute")
        } else if rounded(3_600) < 24 {
            amount = Wording.count(rounded(3_600), "hour")
        } else if rounded(86_400) < 45 {
            amount = Wording.count(rounded(86_400), "day")
        } else if rounded(30 * 86_400) < 12 {
            amount = Wording.count(rounded(30 * 86_400), "month")
        } else {
            amount = Wording.count(max(1, rounded(365 * 86_400)), "year")
        }
        return seconds < 0 ? "\(amount) ago" : "in \(amount)"
    }

    private static func dateText(_ moment: Date) -> String {
        utcText(moment, format: "d MMM yyyy, HH:mm 'UTC'")
    }

    /// A moment in UTC in a `DateFormatter` pattern; pages and mail both write dates with it.
    static func utcText(_ moment: Date, format: String) -> String {
        // A formatter per call: DateFormatter is not Sendable, and a page or a mail shows a few dates.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter.string(from: moment)
    }
}

/// Words that agree with their numbers.
enum Wording {
    /// "1 device", "2 devices", "0 devices".
    static func count(_ number: Int, _ singular: String) -> String {
        "\(number) \(number == 1 ? singular : singular + "s")"
    }
}
