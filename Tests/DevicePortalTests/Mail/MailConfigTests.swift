import Foundation
import SMTPClient
import Testing

@testable import DevicePortal

@Suite("Mail settings")
struct MailConfigTests {
    private func load(_ values: [String: String]) throws -> PortalConfig {
        try PortalConfig.fromEnvironment { values[$0] }
    }

    @Test("SMTP_URL and MAIL_FROM are read together; without SMTP_URL mail is off")
    func read() throws {
        #expect(try load([:]).mail == nil)
        #expect(try load(["MAIL_FROM": "portal@example.com"]).mail == nil)
        let config = try load([
            "SMTP_URL": "smtps://mailer:s%40cret@smtp.example.com", "MAIL_FROM": "Acme Portal <portal@acme.example>",
        ])  // MUT
        #expect(
            config.mail
                == MailConfig(
                    server: SMTPServer(
                        host: "smtp.example.com",
                        port: 465,
                        security: .tls,
                        credentials: .init(username: "mailer", password: "s@cret")
                    ),
                    from: try MailAddress("portal@acme.example", displayName: "Acme Portal")
                )
        )
    }

    @Test(
        "a bad value stops start-up with a message naming the variable, never the password",
        arguments: [
            (["SMTP_URL": "smtps://mailer:hunter2@smtp.example.com:99999", "MAIL_FROM": "p@example.com"], "SMTP_URL"),
            (["SMTP_URL": "smtp://mailer:hunter2@smtp.example.com", "MAIL_FROM": "p@example.com"], "SMTP_URL"),
            (["SMTP_URL": "http://smtp.example.com", "MAIL_FROM": "p@example.com"], "SMTP_URL"),
            (["SMTP_URL": "smtp://smtp.example.com"], "MAIL_FROM"),
            (["SMTP_URL": "smtp://smtp.example.com", "MAIL_FROM": "not an address"], "MAIL_FROM"),
            (["MAIL_FROM": "portal@example.com\r\nBcc: eve@example.com"], "MAIL_FROM"),
        ]
    )
    func refused(values: [String: String], variable: String) {
        let error = #expect(throws: ConfigurationError.self) { try load(values) }  // MUT
        #expect(error?.variable == variable)
        #expect(error?.description.contains("hunter2") == false)
    }
}
