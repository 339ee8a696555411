import Foundation
import Testing

@testable import SMTPClient

@Suite("SMTP parts")
struct SMTPPartsTests {
    @Test(
        "server URLs",
        arguments: [
            ("smtp://mail.example.com", SMTPServer(host: "mail.example.com", port: 25, security: .none)),
            ("smtp://127.0.0.1:2525", SMTPServer(host: "127.0.0.1", port: 2525, security: .none)),
            ("SMTP+STARTTLS://mail.example.com", SMTPServer(host: "mail.example.com", port: 587, security: .startTLS)),
            (
                "smtps://ada%40example.com:p%3Ass%2Fw@mail.example.com:465",
                SMTPServer(
                    host: "mail.example.com",
                    port: 465,
                    security: .tls,
                    credentials: .init(username: "ada@example.com", password: "p:ss/w")
                )
            ),
            (
                "smtp+starttls://apikey:@smtp.example.com:2587",
                SMTPServer(
                    host: "smtp.example.com",
                    port: 2587,
                    security: .startTLS,
                    credentials: .init(username: "apikey", password: "")
                )
            ),
        ]
    )
    func urls(raw: String, expected: SMTPServer) {
        #expect(SMTPServer(url: raw) == expected)  // MUT
    }

    @Test(
        "URLs refused",
        arguments: [
            "http://mail.example.com", "smtp://", "smtp://user:pass@mail.example.com", "smtps://mail.example.com/path",
            "smtp://mail.example.com:0", "smtp://mail.example.com:70000", "smtps://mail.example.com?x=1",
            "mail.example.com",
        ]
    )
    func badURLs(raw: String) {
        #expect(SMTPServer(url: raw) == nil)  // MUT
    }

    @Test("replies: one line, several lines, a bare code; a line that is no reply is refused")
    func replyParser() throws {
        var parser = SMTPReplyParser()
        #expect(try parser.feed("250-first") == nil)
        #expect(try parser.feed("250-second") == nil)
        #expect(try parser.feed("250 last") == SMTPReply(code: 250, lines: ["first", "second", "last"]))
        #expect(try parser.feed("354") == SMTPReply(code: 354, lines: [""]))
        #expect(throws: SMTPError.self) { try parser.feed("hello") }
        #expect(throws: SMTPError.self) { try parser.feed("25") }
        #expect(throws: SMTPError.self) { try parser.feed("2500 x") }
    }

    @Test("DATA: CRLF everywhere, dots doubled at line starts, a final CRLF and the closing dot")
    func data() {
        #expect(String(decoding: SMTPData.encode("a\nb\r\nc\rd"), as: UTF8.self) == "a\r\nb\r\nc\r\nd\r\n.\r\n")
        #expect(String(decoding: SMTPData.encode(".\n.x\ny.z\r\n"), as: UTF8.self) == "..\r\n..x\r\ny.z\r\n.\r\n")
    }
}
