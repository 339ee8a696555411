import Foundation
import VaporTesting

/// Small files for the logo tests: a real image of each accepted type (1×1 pixel) and the
/// kinds of file that must be refused.
enum LogoSamples {
    static let png = base64(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    static let jpeg = base64(
        "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////"
            + "////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA="
    )
    static let gif = base64("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
    static let webp = base64("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")

    static let svg = Data(
        #"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><script>alert(1)</script></svg>"#.utf8
    )
    static let html = Data("<!doctype html><html><body><script>alert(document.cookie)</script></body></html>".utf8)
    static let text = Data("This is not a picture of anything.\n".utf8)
    /// The start of an x86-64 ELF executable's header.
    static let elf = Data(
        [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00] + [UInt8](repeating: 0, count: 8)
            + [0x02, 0x00, 0x3E, 0x00, 0x01, 0x00, 0x00, 0x00] + [UInt8](repeating: 0, count: 40)
    )
    /// PNG's signature followed by junk: no image header, so not a PNG.
    static let fakePNG = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + Array("junk junk junk".utf8))

    /// The PNG, padded with zero bytes after its end to `size` bytes: still a PNG to libmagic.
    static func png(size: Int) -> Data {
        png + Data(count: size - png.count)
    }

    private static func base64(_ text: String) -> Data {
        Data(base64Encoded: text)!
    }
}

/// A `multipart/form-data` body, as a browser sends a form with a file.
struct MultipartForm {
    static let boundary = "----PortalTestBoundary7MA4YWxkTrZu0gW"
    static let contentType = "multipart/form-data; boundary=\(boundary)"

    var fields: [(String, String)] = []
    /// Field name, file name, declared type, bytes.
    var files: [(String, String, String, Data)] = []

    var body: ByteBuffer {
        var buffer = ByteBuffer()
        for (name, value) in fields {
            buffer.writeString("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n")
            buffer.writeString(value + "\r\n")
        }
        for (name, filename, type, data) in files {
            buffer.writeString("--\(Self.boundary)\r\n")
            buffer.writeString("Content-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\n")
            buffer.writeString("Content-Type: \(type)\r\n\r\n")
            buffer.writeBytes(data)
            buffer.writeString("\r\n")
        }
        buffer.writeString("--\(Self.boundary)--\r\n")
        return buffer
    }
}
