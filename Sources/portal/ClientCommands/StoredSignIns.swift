import DevicePortalClient
import Foundation

/// The sign-ins kept on this machine: what each credential store holds, and the stores that
/// could not be read. Every command looks in every store, so a sign-in saved in one session
/// (the file, over SSH) is found from another (a desktop with a keyring).
struct StoredSignIns {
    struct Found {
        let store: any CredentialStore
        let credentials: StoredCredentials
    }

    struct Unreadable {
        let store: any CredentialStore
        let error: any Error
    }

    private(set) var found: [Found] = []
    private(set) var unreadable: [Unreadable] = []
    let locations: [String]

    init(_ stores: [any CredentialStore]) {
        locations = stores.map(\.location)
        for store in stores {
            do {
                if let credentials = try store.load() { found.append(Found(store: store, credentials: credentials)) }
            } catch {
                unreadable.append(Unreadable(store: store, error: error))
            }
        }
    }
}
