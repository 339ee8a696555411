import Foundation
import Testing

@testable import SMTPClient

@Suite("Mail messages")
struct MailMessageTests {
    static let date = Date(timeIntervalSince1970: 1_796_150_000)  // 2026-12-01 18:33:20 UTC

    static func message(
        subject: String = "New device",
        text: String = "Hello",
        html: String? = "<p>Hello</p>"
    )
        throws -> MailMessage
    {
        try MailMessage(
            from: MailAddress("portal@example.com", displayName: "Device Portal"),
            to: [MailAddress("ada@example.com")],
            subject: subject,
            text: text,
            html: html,
            date: date,
            messageID: "outbox-1@example.com"
        )
    }

    @Test("headers and a multipart/alternative body with a text and an HTML part")
    func rendering() throws {
        let rendered = try Self.message().rendered(boundary: "=_b")  // MUT
        #expect(
            rendered == """
                From: "Device Portal" <portal@example.com>\r
                To: ada@example.com\r
                Subject: New device\r
                Date: Tue, 01 Dec 2026 18:33:20 +0000\r
                Message-ID: <outbox-1@example.com>\r
                MIME-Version: 1.0\r
                Content-Type: multipart/alternative; boundary="=_b"\r
                \r
                --=_b\r
                Content-Type: text/plain; charset=utf-8\r
                Content-Transfer-Encoding: quoted-printable\r
                \r
                Hello\r
                --=_b\r
                Content-Type: text/html; charset=utf-8\r
                Content-Transfer-Encoding: quoted-printable\r
                \r
                <p>Hello</p>\r
                --=_b--\r

                """
        )
    }

    @Test("a subject that is not ASCII goes as RFC 2047 words of at most 75 characters, split between characters")
    func encodedSubject() throws {
        let subject = "Nouvel appareil connecté à « Équipe Zürich » — 🔐 " + String(repeating: "é", count: 40)
        let rendered = try Self.message(subject: subject).rendered()  // MUT
        let header = try #require(
            rendered.components(separatedBy: "\r\nDate:").first?.components(separatedBy: "Subject: ").last
        )
        let words = header.components(separatedBy: "\r\n ")
        #expect(words.count > 1)
        var decoded = Data()
        for word in words {
            #expect(word.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            let payload = try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
            #expect(String(data: payload, encoding: .utf8) != nil)  // each word whole characters
            decoded += payload
        }
        #expect(String(data: decoded, encoding: .utf8) == subject)
    }

    @Test("a display name that is not ASCII is encoded; one with quotes is escaped")
    func displayNames() throws {
        #expect(try MailAddress("a@example.com", displayName: "Zoë").header == "=?UTF-8?B?Wm/Dqw==?= <a@example.com>")
        #expect(
            try MailAddress("a@example.com", displayName: "A \"B\" \\ C").header
                == "\"A \\\"B\\\" \\\\ C\" <a@example.com>"
        )
        #expect(
            try MailAddress(parsing: "Device Portal <portal@example.com>")
                == MailAddress("portal@example.com", displayName: "Device Portal")
        )
        #expect(try MailAddress(parsing: " portal@example.com ") == MailAddress("portal@example.com"))
    }

    @Test(
        "header injection is refused: line breaks or controls in the subject, names, addresses",
        arguments: ["New device\r\nBcc: eve@example.com", "New\ndevice", "New\rdevice", "tab\tand nul\u{0}"]
    )
    func injectionInSubject(subject: String) {
        #expect(throws: MailError.invalidHeader("subject")) { try Self.message(subject: subject) }  // MUT
    }

    @Test(
        "addresses refused",
        arguments: [
            "ada@example.com\r\nBcc: eve@example.com", "ada", "@example.com", "ada@", "ada@@example.com",
            "a da@example.com",
            "<ada@example.com>", "adä@example.com", "ada@example.com.", "ada@.example.com",
        ]
    )
    func badAddresses(address: String) {
        #expect(throws: MailError.invalidAddress(address)) { try MailAddress(address) }  // MUT
    }

    @Test("a display name with a line break is refused")
    func injectionInName() {
        #expect(throws: MailError.invalidHeader("display name")) {
            try MailAddress("a@example.com", displayName: "Eve\r\nBcc: x@example.com")  // MUT
        }
    }

    @Test("quoted-printable: lines of at most 76, '=' and non-ASCII escaped, trailing spaces kept, round trip exact")
    func quotedPrintable() {
        let text =
            "Größe = 3 \nend with space \n" + String(repeating: "é", count: 60) + "\n"
            + String(repeating: "x", count: 200)
        let encoded = MIMEEncoding.quotedPrintable(text)  // MUT
        for line in encoded.components(separatedBy: "\r\n") {
            #expect(line.count <= 76)
            #expect(!line.hasSuffix(" "))
        }
        #expect(encoded.hasPrefix("Gr=C3=B6=C3=9Fe =3D 3=20\r\nend with space=20\r\n"))
        #expect(!encoded.contains("=_"))
        #expect(Self.decodeQuotedPrintable(encoded) == text)
    }

    /// RFC 2045's decoding, to check the encoder against.
    static func decodeQuotedPrintable(_ encoded: String) -> String {
        var bytes: [UInt8] = []
        let input = Array(
            encoded.replacingOccurrences(of: "=\r\n", with: "").replacingOccurrences(of: "\r\n", with: "\n").utf8
        )
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "="), index + 2 < input.count + 0,
                let byte = UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(byte)
                index += 3
            } else {
                bytes.append(input[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("a text-only message is a single text/plain part")
    func textOnly() throws {
        let rendered = try Self.message(html: nil).rendered()  // MUT
        #expect(rendered.contains("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"))
        #expect(!rendered.contains("multipart"))
    }
}
