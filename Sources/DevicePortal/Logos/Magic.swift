import CMagic
import Foundation

/// What libmagic, the library behind file(1), says some bytes are, as a MIME type
/// ("image/png"). It looks at the bytes only: names and declared types play no part.
enum Magic {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs on the calling thread; call it from a thread pool, not an event loop. Each call has
    /// a cookie of its own because libmagic's cookies must not be shared between threads;
    /// loading the compiled database (mapped from disk) is cheap beside an upload.
    static func mimeType(of bytes: Data) throws -> String {
        guard let cookie = magic_open(flags) else {
            throw Failure(description: "libmagic could not start")
        }
        defer { magic_close(cookie) }
        guard magic_load(cookie, nil) == 0 else {
            throw Failure(description: "libmagic could not load its database: \(message(cookie))")
        }
        let type: UnsafePointer<CChar>? = bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return nil }
            return magic_buffer(cookie, base, buffer.count)
        }
        guard let type else { throw Failure(description: "libmagic failed: \(message(cookie))") }
        return String(cString: type)
    }

    /// The MIME type only, and none of the deep parsers images never need (ELF details, Office
    /// and tar containers, decompression): less C code sees untrusted bytes. The magic patterns
    /// still name those files, so they are still recognised and refused.
    private static let flags =
        MAGIC_MIME_TYPE | MAGIC_NO_CHECK_ELF | MAGIC_NO_CHECK_CDF | MAGIC_NO_CHECK_TAR | MAGIC_NO_CHECK_COMPRESS

    private static func message(_ cookie: magic_t) -> String {
        magic_error(cookie).map { String(cString: $0) } ?? "no reason given"
    }
}
