#if canImport(Security)
    import Foundation
    import Security

    /// Credentials in the macOS Keychain: a generic password item in the user's login keychain,
    /// the file-based keychain that SecItem uses on macOS unless told otherwise (TN3137). That
    /// keychain's lock and the item's access list protect it: the program that stored it reads
    /// it while the keychain is unlocked, another program makes macOS ask the user first.
    ///
    /// The item is given `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`, but the file-based
    /// keychain does not apply accessibility classes (only the data protection keychain does, and
    /// it needs a signed app with a keychain access group): the item is not tied to this Mac, and
    /// goes wherever the login keychain goes.
    public struct KeychainCredentialStore: CredentialStore {
        public let service: String
        public let account: String

        public init(service: String = "devportal", account: String = "credentials") {
            self.service = service
            self.account = account
        }

        public var location: String { "the macOS Keychain (service \(service))" }

        private var query: [String: Any] {
            [
                kSecClass as String: kSecClassGenericPassword,
                kSecAttrService as String: service,
                kSecAttrAccount as String: account,
            ]
        }

        public func load() throws -> StoredCredentials? {
            var query = query
            query[kSecReturnData as String] = true
            query[kSecMatchLimit as String] = kSecMatchLimitOne
            var item: CFTypeRef?
            let status = SecItemCopyMatching(query as CFDictionary, &item)
            if status == errSecItemNotFound { return nil }
            guard status == errSecSuccess, let data = item as? Data else { throw failure("read", status) }
            return try StoredCredentials.decoded(data, from: location)
        }

        public func save(_ credentials: StoredCredentials) throws {
            let data = try credentials.encoded()
            let update = [kSecValueData as String: data] as CFDictionary
            var status = SecItemUpdate(query as CFDictionary, update)
            if status == errSecItemNotFound {
                var item = query
                item[kSecValueData as String] = data
                item[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
                item[kSecAttrLabel as String] = "DevicePortal sign-in"
                status = SecItemAdd(item as CFDictionary, nil)
            }
            guard status == errSecSuccess else { throw failure("store", status) }
        }

        public func delete() throws {
            let status = SecItemDelete(query as CFDictionary)
            guard status == errSecSuccess || status == errSecItemNotFound else { throw failure("delete", status) }
        }

        private func failure(_ action: String, _ status: OSStatus) -> CredentialStoreError {
            let message = SecCopyErrorMessageString(status, nil) as String? ?? "OSStatus \(status)"
            return CredentialStoreError(location: location, problem: "cannot \(action) the item: \(message)")
        }
    }
#endif
