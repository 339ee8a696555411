import Fluent
import PortalDatabase
import SQLKit
import Vapor

/// The company's session JWTs at the guard: checked by `ProviderJWT` against
/// `EXTERNAL_JWT_*`, then, like every credential, read against the *current* membership and
/// role: `sub` must be linked to an account, the org claim must name an org's `external_id`,
/// and the account must be a member of it now.
enum ExternalJWT {
    struct Failure: Error {
        let reason: PortalMetrics.ExternalJWTRefusal
        let description: String

        static let noOrganizationClaim = Failure(
            reason: .noOrganizationClaim,
            description: "The JWT names no organization."
        )
        static let unknownSubject = Failure(
            reason: .unknownSubject,
            description: "The JWT's subject is not linked to an account here."
        )
        static let unknownOrganization = Failure(
            reason: .unknownOrganization,
            description: "The JWT's organization is not known here."
        )
        static let notAMember = Failure(
            reason: .notAMember,
            description: "The JWT's user is not a member of its organization."
        )

        init(reason: PortalMetrics.ExternalJWTRefusal, description: String) {
            self.reason = reason
            self.description = description
        }

        init(_ failure: ProviderJWT.Failure) {
            self.init(
                reason: PortalMetrics.ExternalJWTRefusal(rawValue: failure.rawValue) ?? .malformed,
                description: failure.description
            )
        }

        var guardFailure: PortalMetrics.GuardFailure {
            switch reason {
            case .expired: .expired
            case .notAMember: .notAMember
            case .unknownKey, .unknownSubject, .unknownOrganization: .unknown
            default: .malformed
            }
        }
    }

    static func principal(for token: String, issuer: ExternalJWTIssuer, request: Request) async throws -> Principal {
        let now = request.now
        let claims: ProviderClaims
        do {
            claims = try await ProviderJWT.verify(
                token,
                keys: issuer.keys,
                expecting: issuer.expectations,
                at: now,
                app: request.application
            )
        } catch let failure as ProviderJWT.Failure {
            throw Failure(failure)
        }
        // `ProviderJWT` required both; what is in them is the issuer's, checked like any input.
        guard let subject = claims.string("sub"), LinkedIdentity.isValid(subject: subject),
            let expiresAt = claims.date("exp")
        else { throw Failure(.malformed) }
        guard let externalID = claims.text(at: issuer.settings.organizationClaim),
            Organization.isValidExternalID(externalID)
        else { throw Failure.noOrganizationClaim }
        let lookup = Statement(issuer: issuer.settings.issuer, subject: subject, organizationExternalID: externalID)
        let row = try await lookup.firstRow(on: request.db, hotPath: request.application.hotPath)
        guard let row else { throw Failure.unknownSubject }
        guard try row.decode(column: "organization_id", as: UUID?.self) != nil else {
            throw Failure.unknownOrganization
        }
        guard let principal = try Principal(row: row, credential: .externalJWT(expiresAt: expiresAt)) else {
            throw Failure.notAMember
        }
        return principal
    }

    /// The linked account, the org by its `external_id` and the current membership and role
    /// (left joins: no org or no membership still finds the account, to tell the reasons apart).
    struct Statement: GuardStatement {
        static let text = """
            SELECT \(Principal.columns) \
            FROM linked_identities i \
            JOIN users u ON u.id = i.user_id \
            LEFT JOIN organizations o ON o.external_id = ?1 \
            LEFT JOIN memberships m ON m.user_id = u.id AND m.organization_id = o.id \
            LEFT JOIN roles r ON r.id = m.role_id \
            WHERE i.issuer = ?2 AND i.subject = ?3
            """
        static let sql = StatementText.postgres(text)
        static let onSQLite = SQLiteReader.Statement(StatementText.sqlite(text))

        let issuer: String
        let subject: String
        let organizationExternalID: String
        var values: [StatementValue] { [.text(organizationExternalID), .text(issuer), .text(subject)] }
    }
}
