import Foundation

/// An RFC 5322 message: the headers a receiving server expects, and a text body with an
/// optional HTML alternative (`multipart/alternative`), both UTF-8 in quoted-printable.
public struct MailMessage: Sendable, Equatable {
    public let from: MailAddress
    public let to: [MailAddress]
    public let subject: String
    public let text: String
    public let html: String?
    public let date: Date
    /// `local@domain`, without the angle brackets; the same for every attempt to send one message,
    /// so that a receiver can drop a copy that a retry delivered twice.
    public let messageID: String

    public init(
        from: MailAddress,
        to: [MailAddress],
        subject: String,
        text: String,
        html: String? = nil,
        date: Date,
        messageID: String
    ) throws {
        guard !to.isEmpty else { throw MailError.invalidAddress("") }
        guard !subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw MailError.invalidHeader("subject")
        }
        guard MailAddress.isValid(messageID) else { throw MailError.invalidHeader("Message-ID") }
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.date = date
        self.messageID = messageID
    }

    /// The whole message, CRLF line breaks. `boundary` is for tests; by default a random one
    /// starting `=_`, which quoted-printable text can never contain.
    public func rendered(boundary: String = "=_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")) -> String
    {
        var lines = [
            "From: \(from.header)",
            "To: \(to.map(\.header).joined(separator: ",\r\n "))",
            "Subject: \(MIMEEncoding.headerText(subject))",
            "Date: \(Self.dateFormatter().string(from: date))",
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
        ]
        guard let html else {
            lines += Self.partHeaders("text/plain") + ["", MIMEEncoding.quotedPrintable(text)]
            return lines.joined(separator: "\r\n") + "\r\n"
        }
        lines.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
        lines += ["", "--\(boundary)"] + Self.partHeaders("text/plain") + ["", MIMEEncoding.quotedPrintable(text)]
        lines += ["--\(boundary)"] + Self.partHeaders("text/html") + ["", MIMEEncoding.quotedPrintable(html)]
        lines.append("--\(boundary)--")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    private static func partHeaders(_ type: String) -> [String] {
        ["Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: quoted-printable"]
    }

    /// RFC 5322 §3.3, in UTC.
    static func dateFormatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter
    }
}
