import DevicePortalClient
import Foundation

/// What the client commands tell a person: every error says what happened and what to do.
/// Whatever came from a server goes through `ServerText.singleLine` first.
enum ClientMessages {
    static func describe(_ error: any Error, server: URL, clientID: String) -> String {
        let address = ServerText.singleLine(server.absoluteString)
        switch error {
        case PortalClientError.accessDenied:
            return "The sign-in was denied in the browser. Nothing was stored."
        case PortalClientError.expired:
            return "The code expired before the sign-in was approved. Run portal login again for a new code."
        case PortalClientError.invalidClient:
            return "\(address) does not know the client id \"\(ServerText.singleLine(clientID))\" as a desktop app. "
                + "Check --client-id; an administrator registers one with: "
                + "portal create-client --client-id ID --name NAME"
        case PortalClientError.invalidToken:
            return "The sign-in on \(address) is no longer valid (revoked, expired, or you left the organization). "
                + "Run portal login to sign in again."
        case PortalClientError.network(let failure):
            return "Cannot reach \(address): \(failure.localizedDescription)"
        case PortalClientError.insecureTransport(let url):
            return plainHTTPRefused(url)
        case PortalClientError.redirected(let status, let location):
            return "\(address) answered HTTP \(status), a redirect to \(location ?? "(no Location)"). "
                + "portal follows no redirect, so nothing was sent there. If that is your portal's address, "
                + "sign in with portal login --server set to it."
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

    static func plainHTTPRefused(_ server: URL) -> String {
        "\(ServerText.singleLine(server.absoluteString)) is plain http to another machine: the token would cross "
            + "the network unencrypted. Use https, or add --insecure-http to accept that (on a network you trust)."
    }

    static func person(_ user: PortalUser) -> String {
        "\(ServerText.singleLine(user.name)) <\(ServerText.singleLine(user.email))>"
    }

    static func organization(_ organization: PortalOrganization) -> String {
        "\(ServerText.singleLine(organization.name)) (\(ServerText.singleLine(organization.slug)))"
    }

    /// "90 seconds", "15 minutes".
    static func duration(_ seconds: Int) -> String {
        seconds < 120 ? "\(seconds) seconds" : "\(seconds / 60) minutes"
    }

    static func notSignedIn(lookedIn locations: [String]) -> String {
        "Not signed in (looked in \(locations.joined(separator: " and "))). "
            + "Run: portal login --server URL --client-id ID"
    }

    /// A whole message made safe for a terminal, the last guard before it is written: line breaks
    /// stay, every other control and bidirectional formatting character goes.
    static func terminalSafe(_ message: String) -> String {
        var kept = String.UnicodeScalarView()
        for scalar in message.unicodeScalars {
            if scalar == "\n" || ServerText.isPrintable(scalar) {
                kept.append(scalar)
            } else if scalar == "\t" {
                kept.append(" ")
            }
        }
        return String(kept)
    }
}
