import DevicePortalClient
import Foundation

/// What the client commands tell a person: every error says what happened and what to do.
enum ClientMessages {
    static func describe(_ error: any Error, server: URL, clientID: String) -> String {
        let address = server.absoluteString
        switch error {
        case PortalClientError.accessDenied:
            return "The sign-in was denied in the browser. Nothing was stored."
        case PortalClientError.expired:
            return "The code expired before the sign-in was approved. Run portal login again for a new code."
        case PortalClientError.invalidClient:
            return "\(address) does not know the client id \"\(clientID)\" as a desktop app. Check --client-id; "
                + "an administrator registers one with: portal create-client --client-id ID --name NAME"
        case PortalClientError.invalidToken:
            return "The sign-in on \(address) is no longer valid (revoked, expired, or you left the organization). "
                + "Run portal login to sign in again."
        case PortalClientError.network(let failure):
            return "Cannot reach \(address): \(failure.localizedDescription)"
        case let error as PortalClientError:
            return error.localizedDescription + " (server \(address))"
        case let error as CredentialStoreError:
            return "Cannot use the stored credentials: \(error.localizedDescription)"
        case is CancellationError:
            return "Cancelled."
        default:
            return "\(error.localizedDescription)"
        }
    }

    static func person(_ user: PortalUser) -> String {
        "\(user.name) <\(user.email)>"
    }

    static func organization(_ organization: PortalOrganization) -> String {
        "\(organization.name) (\(organization.slug))"
    }

    /// "90 seconds", "15 minutes".
    static func duration(_ seconds: Int) -> String {
        seconds < 120 ? "\(seconds) seconds" : "\(seconds / 60) minutes"
    }

    static let notSignedIn = "Not signed in. Run: portal login --server URL --client-id ID"
}
