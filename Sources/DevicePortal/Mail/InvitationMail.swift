import Fluent
import Foundation
import Vapor

/// The invitation to join an organization, mailed to the invited address in the transaction
/// that makes the invitation. `url` carries the invitation's secret: it is only in the mail.
enum InvitationMail {
    struct Context: Encodable, Sendable {
        let portalName: String
        let organizationName: String
        let invitedBy: String
        let role: String
        let url: String
        let expiresAt: String
    }

    static func enqueue(
        to email: String,
        organizationName: String,
        invitedBy: String,
        role: String,
        url: String,
        expiresAt: Date,
        at now: Date,
        app: Application,
        on db: any Database
    ) async throws {
        guard app.config.mail != nil else { return }
        let context = Context(
            portalName: app.config.portalName,
            organizationName: organizationName,
            invitedBy: invitedBy,
            role: role,
            url: url,
            expiresAt: MailTemplate.readableDate(expiresAt)
        )
        try await Outbox.enqueue(
            .invitation,
            to: email,
            subject: "\(invitedBy) invites you to \(organizationName) on \(app.config.portalName)",
            template: "invitation",
            context: context,
            at: now,
            app: app,
            on: db
        )
    }
}
