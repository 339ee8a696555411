import Fluent
import Foundation
import Vapor

/// "A device was signed in to your account": mailed each time a device code is exchanged for
/// an API token, in that exchange's transaction, with a link to sign the device out.
enum NewDeviceNotice {
    struct Context: Encodable, Sendable {
        let portalName: String
        let userName: String
        let appName: String
        let deviceName: String
        let organizationName: String
        let ip: String
        let time: String
        let devicesURL: String
    }

    static func enqueue(
        to user: User,
        clientID: UUID,
        deviceName: String?,
        organization: Organization,
        ip: String?,
        at now: Date,
        app: Application,
        on db: any Database
    ) async throws {
        guard app.config.mail != nil else { return }
        let appName = try await OAuthClient.find(clientID, on: db)?.name ?? "An app"
        let context = Context(
            portalName: app.config.portalName,
            userName: user.name,
            appName: appName,
            deviceName: deviceName ?? "an unnamed device",
            organizationName: organization.name,
            ip: ip ?? "unknown",
            time: MailTemplate.readableDate(now),
            devicesURL: app.publicBaseURL + "/settings/devices"
        )
        try await Outbox.enqueue(
            .newDevice,
            to: user.email,
            subject: "New sign-in: \(appName) on \(context.deviceName)",
            template: "new-device",
            context: context,
            at: now,
            app: app,
            on: db
        )
    }
}
