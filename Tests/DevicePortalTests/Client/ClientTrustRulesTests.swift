import Foundation
import Testing

@testable import DevicePortalClient

/// The pure rules the client trusts a server by, as tables: what counts as this machine, what
/// counts as the same origin, what text may reach a terminal, what a user code and a token are.
@Suite("Client: trust rules")
struct ClientTrustRulesTests {
    @Test("loopback is parsed, not prefix-matched: localhost, 127.0.0.0/8 and ::1 only")
    func loopback() {
        let loopback = [
            "localhost", "LOCALHOST", "127.0.0.1", "127.255.255.254", "127.0.0.0", "::1", "[::1]",
            "0:0:0:0:0:0:0:1", "0000:0000:0000:0000:0000:0000:0000:0001", "::0:1",
        ]
        let elsewhere = [
            "127.attacker.example", "127.0.0.1.attacker.example", "127.0.0.1.", "127.1", "0x7f.0.0.1",
            "127.0.0.01", "0127.0.0.1", "127.0.0.256", "127.0.0.1:80", "128.0.0.1", "0.0.0.0", "10.0.0.1",
            "localhost.", "ada.localhost", "localhost.attacker.example", "::", "::2", "::ffff:127.0.0.1",
            "1::1", ":::1", "::1::", "[::1", "", "１２７.0.0.1",
        ]
        for host in loopback {
            #expect(Loopback.isLoopback(host: host), "\(host)")  // MUT
        }
        for host in elsewhere {
            #expect(!Loopback.isLoopback(host: host), "\(host)")  // MUT
        }
    }

    @Test("https anywhere, plain http only to this machine, unless insecure http is allowed")
    func encryptedOrLocal() {
        func allowed(_ text: String) -> Bool { PortalClient.isEncryptedOrLocal(URL(string: text)!) }  // MUT
        #expect(allowed("https://portal.example.com"))
        #expect(allowed("http://127.0.0.1:8080"))
        #expect(allowed("http://localhost:8080"))
        #expect(allowed("http://[::1]:8080"))
        #expect(!allowed("http://127.attacker.example"))
        #expect(!allowed("http://portal.example.com"))
        #expect(!allowed("http://0.0.0.0:8080"))
        #expect(!allowed("ftp://127.0.0.1"))
    }

    @Test("an origin is scheme, host and port: default ports count, case does not, paths do not")
    func origins() {
        func origin(_ text: String) -> Origin? { Origin(URL(string: text)!) }  // MUT
        #expect(origin("https://Portal.Example.com/a") == origin("https://portal.example.com:443/b"))
        #expect(origin("http://127.0.0.1/x") == origin("http://127.0.0.1:80"))
        #expect(origin("http://127.0.0.1:8080") != origin("http://127.0.0.1:8081"))
        #expect(origin("http://127.0.0.1:8080") != origin("https://127.0.0.1:8080"))
        #expect(origin("http://127.0.0.1:8080") != origin("http://localhost:8080"))
        #expect(origin("https://portal.example.com@evil.example") == origin("https://evil.example"))
        #expect(origin("mailto:ada@example.com") == nil)
    }

    @Test("server text on one line: no C0, DEL, C1, line breaks or bidi controls; long text is cut")
    func singleLine() {
        let cases: [(String, String)] = [
            ("Ada Lovelace", "Ada Lovelace"),
            ("Ada\u{1B}[2J\u{1B}[H", "Ada[2J[H"),
            ("\u{1B}]52;c;ZWNobyBoaQ==\u{07}Ada", "]52;c;ZWNobyBoaQ==Ada"),
            ("Ada\nSigned in to https://x as root", "Ada Signed in to https://x as root"),
            ("a\r\tb\u{0B}\u{0C}c", "a  b  c"),
            ("\u{9B}31mred\u{85}x\u{7F}", "31mred x"),
            ("evil\u{202E}gnp.exe\u{2066}\u{2069}\u{200F}", "evilgnp.exe"),
            ("line\u{2028}para\u{2029}", "line para "),
            ("Zoë 日本 🙂", "Zoë 日本 🙂"),
            ("\u{00}nul", "nul"),
        ]
        for (raw, shown) in cases {
            #expect(ServerText.singleLine(raw) == shown, "\(raw.debugDescription)")  // MUT
        }
        #expect(ServerText.singleLine(String(repeating: "x", count: 500)) == String(repeating: "x", count: 200) + "…")
        #expect(ServerText.singleLine("abc", limit: 3) == "abc")
    }

    @Test("a user code is XXXX-XXXX in BCDFGHJKLMNPQRSTVWXZ, nothing else")
    func userCodes() {
        for code in ["BCDF-GHJK", "WDJB-MJHT", "ZZZZ-BBBB"] {
            #expect(DeviceSignIn.isUserCode(code), "\(code)")  // MUT
        }
        for code in [
            "bcdf-ghjk", "BCDFGHJK", "BCDF-GHJKL", "BCD-FGHJK", "ABCD-EFGH", "BCDF GHJK", "BCDF-GHJ\u{1B}",
            "BCDF-GHJ\u{202E}", "ＢCDF-GHJK", "", "BCDF–GHJK",
        ] {
            #expect(!DeviceSignIn.isUserCode(code), "\(code.debugDescription)")  // MUT
        }
    }

    @Test("a bearer token is RFC 6750's b64token: no spaces, line breaks or controls, 4096 at most")
    func bearerTokens() {
        for token in [String(repeating: "ab", count: 32), "a.b-c_d~e+f/g==", String(repeating: "a", count: 4096)] {
            #expect(SignedIn.isBearerToken(token))  // MUT
        }
        for token in [
            "", "abc\r\nX-Injected: 1", "ab cd", "ab\u{1B}", "=abc", "ab=c", "tökén",
            String(repeating: "a", count: 4097),
        ] {
            #expect(!SignedIn.isBearerToken(token), "\(token.debugDescription)")  // MUT
        }
    }
}

/// What no byte written to a terminal may be: a C0 control other than a line feed, DEL, a C1
/// control (U+0080–U+009F), or a bidirectional embedding, override or isolate.
func expectTerminalSafe(
    _ bytes: Data,
    _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let bad = bytes.filter { ($0 < 0x20 && $0 != 0x0A) || $0 == 0x7F }
    #expect(bad.isEmpty, "\(what) has control bytes \(Array(bad))", sourceLocation: sourceLocation)
    let text = String(decoding: bytes, as: UTF8.self)
    let scalars = text.unicodeScalars.filter {
        (0x80...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value)
            || (0x2066...0x2069).contains($0.value)
    }
    #expect(
        scalars.isEmpty,
        "\(what) has \(scalars.map { String($0.value, radix: 16) })",
        sourceLocation: sourceLocation
    )
}

func expectTerminalSafe(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    expectTerminalSafe(Data(text.utf8), what, sourceLocation: sourceLocation)
}

/// Every kind of text a hostile server might hide in a field: escape sequences that clear the
/// screen, move the cursor, set a title, write the clipboard (OSC 52), a C1 CSI, a line break
/// followed by a fake success line, a right-to-left override, a NUL and a bell.
let hostileText =
    "Mallory\u{1B}[2J\u{1B}[H\u{1B}]0;pwned\u{07}\u{1B}]52;c;cm0gLXJmIH4=\u{07}\u{9B}31m"
    + "\r\nSigned in to https://portal.example.com as Admin\u{202E}txt.exe\u{2067}\u{00}\u{7F}\u{85}"
