import Foundation
import Vapor

/// Bodies from `Templates/mail/<name>.text.leaf` and `<name>.html.leaf`, rendered when the
/// message is enqueued, so that what is sent is what the action saw. (Leaf escapes `#(…)` for
/// HTML; the text templates print with `#unsafeHTML(…)`, as plain text needs no escaping.)
enum MailTemplate {
    static func render(
        _ name: String,
        _ context: some Encodable & Sendable,
        app: Application
    ) async throws
        -> (text: String, html: String)
    {
        let text = try await app.view.render("mail/\(name).text.leaf", context)
        let html = try await app.view.render("mail/\(name).html.leaf", context)
        return (String(buffer: text.data), String(buffer: html.data))
    }

    /// A date as a person reads it, in UTC: "Tuesday 1 December 2026, 20:55 UTC".
    static func readableDate(_ date: Date) -> String {
        ShownDate.utcText(date, format: "EEEE d MMMM yyyy, HH:mm 'UTC'")
    }

    /// A subject line of one line: controls a name may carry become spaces.
    static func subject(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }
            )
        )
    }
}
