import Fluent
import Foundation
import Testing
import VaporTesting

@testable import DevicePortal

@Suite("Org logos")
struct LogoTests {
    /// The cast, with `who` signed in and on the settings page (for its CSRF token).
    private func signedIn(_ who: String, _ app: Application) async throws -> (OrganizationCast, Browser) {
        let cast = try await OrganizationCast.make(app)
        let browser = Browser(app: app)
        #expect(try await browser.signIn(who.contains("@") ? who : "\(who)@acme.example").status == .seeOther)
        try await browser.get("/auth/device")
        return (cast, browser)
    }

    private func logoForm(_ data: Data, filename: String = "logo.png", type: String = "image/png") -> MultipartForm {
        MultipartForm(files: [("logo", filename, type, data)])
    }

    private func storedLogo(_ organization: Organization, _ app: Application) async throws -> OrganizationLogo? {
        try await OrganizationLogo.query(on: app.db).filter(\.$organization.$id == organization.requireID()).first()
    }

    struct Accepted: Sendable, CustomTestStringConvertible {
        let type: String
        let data: Data
        var testDescription: String { type }
    }

    @Test(
        "a PNG, JPEG, GIF or WebP is stored with the type sniffed from its bytes and served back byte for byte",
        arguments: [
            Accepted(type: "image/png", data: LogoSamples.png), Accepted(type: "image/jpeg", data: LogoSamples.jpeg),
            Accepted(type: "image/gif", data: LogoSamples.gif), Accepted(type: "image/webp", data: LogoSamples.webp),
        ]
    )
    func accepted(_ sample: Accepted) async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("admin", app)
            // Declared as something else entirely: only the bytes count.
            let form = logoForm(sample.data, filename: "logo.bin", type: "application/octet-stream")
            let uploaded = try await browser.post("/orgs/acme/logo", form)  // MUT
            #expect(uploaded.status == .seeOther)
            #expect(uploaded.headers.first(name: .location) == "/orgs/acme/settings")
            let stored = try #require(try await storedLogo(cast.acme, app))
            #expect(stored.contentType == sample.type)
            #expect(stored.data == sample.data)
            let events = try await cast.auditEvents(.logoChanged)
            #expect(events.count == 1)
            #expect(events.first?.actor == "admin@acme.example")
            let details = try JSONDecoder().decode(
                [String: String].self,
                from: Data(try #require(events.first).details.utf8)
            )
            #expect(details["content_type"] == sample.type)
            #expect(details["bytes"] == String(sample.data.count))

            let served = try await browser.get("/orgs/acme/logo")
            #expect(served.status == .ok)
            #expect(Data(served.body.readableBytesView) == sample.data)
            #expect(served.headers.first(name: .contentType) == sample.type)
            #expect(served.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(served.headers.first(name: "Content-Security-Policy")?.hasPrefix("default-src 'none'") == true)
            #expect(served.headers.first(name: "Content-Disposition") == "inline")
            #expect(served.headers.first(name: .cacheControl) == "private, no-cache")
            let etag = try #require(served.headers.first(name: .eTag))
            #expect(etag == "\"\(stored.sha256)\"")

            let again = try await app.testing().sendRequest(
                .GET,
                "/orgs/acme/logo",
                headers: [
                    "Cookie": browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "),
                    "If-None-Match": etag,
                ]
            )
            #expect(again.status == .notModified)
            #expect(again.body.readableBytes == 0)
        }
    }

    struct Refused: Sendable, CustomTestStringConvertible {
        let kind: String
        let data: Data
        let filename: String
        let declaredType: String
        let status: HTTPStatus
        let message: String
        var testDescription: String { kind }
    }

    @Test(
        "anything but a PNG, JPEG, GIF or WebP of at most 512 KiB is refused with a clear message, and the logo stays",
        arguments: [
            Refused(
                kind: "SVG named logo.png, declared image/png",
                data: LogoSamples.svg,
                filename: "logo.png",
                declaredType: "image/png",
                status: .unsupportedMediaType,
                message: "The file is image/svg+xml"
            ),
            Refused(
                kind: "HTML",
                data: LogoSamples.html,
                filename: "logo.gif",
                declaredType: "image/gif",
                status: .unsupportedMediaType,
                message: "The file is text/html"
            ),
            Refused(
                kind: "an ELF executable",
                data: LogoSamples.elf,
                filename: "logo.webp",
                declaredType: "image/webp",
                status: .unsupportedMediaType,
                message: "The file is application/x-executable"
            ),
            Refused(
                kind: "a text file",
                data: LogoSamples.text,
                filename: "logo.jpg",
                declaredType: "image/jpeg",
                status: .unsupportedMediaType,
                message: "must be a PNG, JPEG, GIF or WebP image"
            ),
            Refused(
                kind: "PNG's signature followed by junk",
                data: LogoSamples.fakePNG,
                filename: "logo.png",
                declaredType: "image/png",
                status: .unsupportedMediaType,
                message: "The file is application/octet-stream"
            ),
            Refused(
                kind: "an empty file",
                data: Data(),
                filename: "logo.png",
                declaredType: "image/png",
                status: .unprocessableEntity,
                message: "The file is empty."
            ),
            Refused(
                kind: "a PNG of 512 KiB + 1 byte",
                data: LogoSamples.png(size: 512 * 1024 + 1),
                filename: "logo.png",
                declaredType: "image/png",
                status: .payloadTooLarge,
                message: "The file has 524289 bytes; a logo may have at most 524288 bytes (512 KiB)."
            ),
        ]
    )
    func refused(_ sample: Refused) async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("owner", app)
            #expect(try await browser.post("/orgs/acme/logo", logoForm(LogoSamples.gif)).status == .seeOther)
            let before = try #require(try await storedLogo(cast.acme, app))

            let response = try await browser.post(
                "/orgs/acme/logo",
                logoForm(sample.data, filename: sample.filename, type: sample.declaredType)
            )  // MUT
            #expect(response.status == sample.status)
            #expect(response.headers.contentType == .html)
            #expect(response.text.contains(sample.message))

            let after = try #require(try await storedLogo(cast.acme, app))
            #expect(after.data == LogoSamples.gif)
            #expect(after.contentType == "image/gif")
            #expect(after.sha256 == before.sha256)
            #expect(try await cast.auditEvents(.logoChanged).count == 1)
            let served = try await browser.get("/orgs/acme/logo")
            #expect(Data(served.body.readableBytesView) == LogoSamples.gif)
        }
    }

    @Test("a logo of exactly 512 KiB is accepted; a form without the logo field is refused (400)")
    func limits() async throws {
        try await withPortal { app in
            let (cast, browser) = try await signedIn("owner", app)
            let largest = LogoSamples.png(size: 512 * 1024)
            #expect(try await browser.post("/orgs/acme/logo", logoForm(largest)).status == .seeOther)
            #expect(try await storedLogo(cast.acme, app)?.data == largest)

            let missing = try await browser.post("/orgs/acme/logo", MultipartForm())
            #expect(missing.status == .badRequest)
            #expect(missing.text.contains("Choose a PNG, JPEG, GIF or WebP file"))
            let notMultipart = try await browser.post("/orgs/acme/logo", [("logo", "iVBORw0KGgo")])
            #expect(notMultipart.status == .badRequest)
            #expect(try await storedLogo(cast.acme, app)?.data == largest)
            #expect(try await cast.auditEvents(.logoChanged).count == 1)
        }
    }

    @Test(
        "only an owner or an admin uploads: a member or viewer gets 403, another org's owner 404, a missing CSRF token 403"
    )
    func whoMayUpload() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            for (who, status) in [("member", HTTPStatus.forbidden), ("viewer", .forbidden)] {
                let browser = Browser(app: app)
                try await browser.signIn("\(who)@acme.example")
                try await browser.get("/auth/device")
                let response = try await browser.post("/orgs/acme/logo", logoForm(LogoSamples.png))
                #expect(response.status == status, "\(who)")
                #expect(response.text.contains("Only an owner or an admin can change the organization&#39;s logo."))
            }
            let outsider = Browser(app: app)
            try await outsider.signIn("owner@globex.example")
            try await outsider.get("/auth/device")
            #expect(try await outsider.post("/orgs/acme/logo", logoForm(LogoSamples.png)).status == .notFound)

            let admin = Browser(app: app)
            try await admin.signIn("admin@acme.example")
            try await admin.get("/auth/device")
            var forged = logoForm(LogoSamples.png)
            forged.fields = [("csrf_token", String(repeating: "0", count: 64))]
            #expect(try await admin.post("/orgs/acme/logo", forged).status == .forbidden)
            admin.csrfToken = nil
            #expect(try await admin.post("/orgs/acme/logo", logoForm(LogoSamples.png)).status == .forbidden)

            #expect(try await OrganizationLogo.query(on: app.db).count() == 0)
            #expect(try await cast.auditEvents(.logoChanged).isEmpty)

            let owner = Browser(app: app)
            try await owner.signIn("owner@acme.example")
            try await owner.get("/auth/device")
            #expect(try await owner.post("/orgs/acme/logo", logoForm(LogoSamples.png)).status == .seeOther)
        }
    }

    @Test("the logo is served to the org's members only: 404 to others, 404 when there is none")
    func whoMaySee() async throws {
        try await withPortal { app in
            let (_, owner) = try await signedIn("owner", app)
            #expect(try await owner.get("/orgs/acme/logo").status == .notFound)
            #expect(try await owner.post("/orgs/acme/logo", logoForm(LogoSamples.webp)).status == .seeOther)

            let viewer = Browser(app: app)
            try await viewer.signIn("viewer@acme.example")
            let seen = try await viewer.get("/orgs/acme/logo")
            #expect(seen.status == .ok)
            #expect(Data(seen.body.readableBytesView) == LogoSamples.webp)

            let outsider = Browser(app: app)
            try await outsider.signIn("owner@globex.example")
            let hidden = try await outsider.get("/orgs/acme/logo")
            #expect(hidden.status == .notFound)
            #expect(hidden.headers.contentType == .html)
            #expect(try await outsider.get("/orgs/nowhere/logo").status == .notFound)

            let anonymous = try await app.testing().sendRequest(.GET, "/orgs/acme/logo")
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers.first(name: .location)?.hasPrefix("/login?next=") == true)
        }
    }

    @Test("the settings page offers the upload form to admins; the policy stays the owners'")
    func settingsPage() async throws {
        try await withPortal { app in
            let (_, admin) = try await signedIn("admin", app)
            let page = try await admin.get("/orgs/acme/settings")
            #expect(page.status == .ok)
            #expect(page.text.contains(#"enctype="multipart/form-data""#))
            #expect(page.text.contains(#"<input id="logo" name="logo" type="file""#))
            #expect(page.text.contains("No logo yet."))
            #expect(!page.text.contains(#"name="token_ttl""#))
            #expect(try await admin.post("/orgs/acme/logo", logoForm(LogoSamples.png)).status == .seeOther)
            #expect(try await admin.get("/orgs/acme/settings").text.contains(#"<img class="logo-preview""#))

            let owner = Browser(app: app)
            try await owner.signIn("owner@acme.example")
            let ownersPage = try await owner.get("/orgs/acme/settings")
            #expect(ownersPage.text.contains(#"name="token_ttl""#))
            #expect(ownersPage.text.contains(#"name="logo""#))
            #expect(!ownersPage.text.contains(" style="))
            #expect(!ownersPage.text.contains("<script"))

            let member = Browser(app: app)
            try await member.signIn("member@acme.example")
            #expect(try await member.get("/orgs/acme/settings").status == .forbidden)
        }
    }

    @Test("the org pickers show the logo of an org that has one: the header's and the device confirmation's")
    func picker() async throws {
        try await withPortal { app in
            let cast = try await OrganizationCast.make(app)
            try await Fixtures(app: app).member(cast.users["admin"]!, of: cast.globex, as: "member")
            let browser = Browser(app: app)
            try await browser.signIn("admin@acme.example")
            try await browser.get("/auth/device")
            #expect(try await browser.post("/orgs/acme/logo", logoForm(LogoSamples.png)).status == .seeOther)
            let sha256 = try #require(try await storedLogo(cast.acme, app)?.sha256)
            let image = #"<img class="org-logo" src="/orgs/acme/logo?v=\#(sha256)" alt="Logo of Acme">"#

            let page = try await browser.get("/auth/device")
            #expect(page.text.contains(image))
            #expect(!page.text.contains("/orgs/globex/logo"))

            let code = try await DesktopApp(app: app).requestCode()
            let confirm = try await browser.post("/auth/device", [("user_code", code.userCode)])
            #expect(confirm.status == .ok)
            #expect(confirm.text.contains(image))
            #expect(confirm.text.contains(#"<input type="radio" name="org" value="globex""#))
            #expect(!confirm.text.contains("/orgs/globex/logo"))
        }
    }

    @Test("an upload over a real connection, its body streamed in many reads, passes the CSRF check and is stored")
    func streamedUpload() async throws {
        try await withRunningPortal { app, base in
            let cast = try await OrganizationCast.make(app)
            let browser = Browser(app: app)
            try await browser.signIn("owner@acme.example")
            try await browser.get("/auth/device")
            let logo = LogoSamples.png(size: 400 * 1024)
            var form = logoForm(logo)
            form.fields = [("csrf_token", try #require(browser.csrfToken))]
            let cookie = browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")

            let response = try await app.client.post(
                URI(string: base.absoluteString + "/orgs/acme/logo"),
                headers: ["Cookie": cookie, "Content-Type": MultipartForm.contentType]
            ) { $0.body = form.body }  // MUT
            #expect([HTTPStatus.seeOther, .ok].contains(response.status))
            #expect(try await storedLogo(cast.acme, app)?.data == logo)

            let tooLarge = logoForm(LogoSamples.png(size: 700 * 1024))
            var withToken = tooLarge
            withToken.fields = form.fields
            let refused = try await app.client.post(
                URI(string: base.absoluteString + "/orgs/acme/logo"),
                headers: ["Cookie": cookie, "Content-Type": MultipartForm.contentType]
            ) { $0.body = withToken.body }
            #expect(refused.status == .payloadTooLarge)
            #expect(try await storedLogo(cast.acme, app)?.data == logo)
        }
    }

    @Test(
        "libmagic names what the bytes are, whatever they claim",
        arguments: [
            (LogoSamples.png, "image/png"), (LogoSamples.jpeg, "image/jpeg"), (LogoSamples.gif, "image/gif"),
            (LogoSamples.webp, "image/webp"), (LogoSamples.svg, "image/svg+xml"), (LogoSamples.html, "text/html"),
            (LogoSamples.elf, "application/x-executable"), (LogoSamples.text, "text/plain"),
        ]
    )
    func magic(_ data: Data, _ expected: String) throws {
        #expect(try Magic.mimeType(of: data) == expected)  // MUT
    }
}
