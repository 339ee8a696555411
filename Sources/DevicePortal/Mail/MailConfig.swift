import SMTPClient

/// `SMTP_URL` and `MAIL_FROM`: both or neither.
public struct MailConfig: Sendable, Equatable {
    public var server: SMTPServer
    public var from: MailAddress

    public init(server: SMTPServer, from: MailAddress) {
        self.server = server
        self.from = from
    }

    static func read(_ env: EnvironmentReader) throws -> MailConfig? {
        let from = try env.value(PortalConfig.Setting.mailFrom)
        guard let server = try env.value(PortalConfig.Setting.smtpURL) else { return nil }
        guard let from else {
            let setting = PortalConfig.Setting.mailFrom
            throw ConfigurationError(variable: setting.name, value: "", expected: setting.expected)
        }
        return MailConfig(server: server, from: from)
    }
}
