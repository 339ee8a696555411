import NIOSSL

/// A self-signed certificate for `localhost` (and 127.0.0.1), valid until 2126, made for these
/// tests only (`openssl req -x509 -newkey ec …`): its key protects nothing.
enum TestCertificate {
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBmzCCAUGgAwIBAgIUQ/488bTexeFF4eOiv5LX3MDVjuEwCgYIKoZIzj0EAwIw
        FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTIxMTQyN1oYDzIxMjYxMTA3
        MjExNDI3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
        PQMBBwNCAARHCbqSqgh+JzT/x7vQQUwfu6FKj0qRga1m4oN/3oex7SCrrxnOJpjr
        UfU7YucJQOXSEggDwgpgx2bKM0hEw+rao28wbTAdBgNVHQ4EFgQUIYBPyC17CR5K
        bvyhLF6pQizY2NgwHwYDVR0jBBgwFoAUIYBPyC17CR5KbvyhLF6pQizY2NgwDwYD
        VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
        zj0EAwIDSAAwRQIga3fVCcPRkPljzM6YZAYoH3++hAW0T/mMtLN2H1USvncCIQDu
        fPuuKqYoApdrImEOIpg546sq5JCfhC21JgUvy0IjXw==
        -----END CERTIFICATE-----
        """
    static let privateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdUmKxg6ejw7fnfed
        Bs9qt42VAmFQNxFv6U8KU+5L56+hRANCAARHCbqSqgh+JzT/x7vQQUwfu6FKj0qR
        ga1m4oN/3oex7SCrrxnOJpjrUfU7YucJQOXSEggDwgpgx2bKM0hEw+ra
        -----END PRIVATE KEY-----
        """

    static func serverConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem))
        )
    }

    /// A client that trusts this certificate and nothing else.
    static func clientConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([
            try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)
        ])
        return configuration
    }
}
