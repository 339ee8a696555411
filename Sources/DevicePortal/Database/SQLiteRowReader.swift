import FluentSQLiteDriver
import Foundation

/// A row from sqlite-nio read as an `SQLRow`, for the guard's query: the types it reads are
/// converted directly, not through sqlite-kit's `Codable` decoder, whose dynamic casts cost
/// as much as the conversions themselves; anything else still goes through that decoder.
struct SQLiteRowReader: SQLRow {
    let row: SQLiteRow

    var allColumns: [String] { row.columns.map(\.name) }

    func contains(column: String) -> Bool { row.column(column) != nil }

    func decodeNil(column: String) throws -> Bool { (row.column(column) ?? .null) == .null }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let data = row.column(column) else { throw MissingColumn(column: column) }
        let value: Any?
        switch type {
        case is String.Type: value = String(sqliteData: data)
        case is UUID.Type: value = String(sqliteData: data).flatMap(UUID.init(uuidString:))
        case is Date.Type: value = Date(sqliteData: data)
        case is String?.Type: value = data == .null ? String?.none as Any : String(sqliteData: data).map { $0 as Any }
        case is Date?.Type: value = data == .null ? Date?.none as Any : Date(sqliteData: data).map { $0 as Any }
        default: return try SQLiteDataDecoder().decode(type, from: data)
        }
        guard let value = value as? D else {
            throw DecodingError.typeMismatch(
                D.self, .init(codingPath: [], debugDescription: "Column \(column) is not a \(D.self): \(data)"))
        }
        return value
    }

    struct MissingColumn: Error {
        let column: String
    }
}
