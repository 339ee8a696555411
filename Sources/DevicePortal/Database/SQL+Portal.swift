import Fluent
import SQLKit

extension Database {
    /// The SQL interface of this database; both supported drivers are SQL databases.
    var sql: any SQLDatabase { self as! any SQLDatabase }

    /// A plain (non-unique) index, which Fluent's schema builder cannot declare.
    func createIndex(on table: String, named name: String, columns: String...) async throws {
        var builder = sql.create(index: name).on(table)
        for column in columns { builder = builder.column(column) }
        try await builder.run()
    }
}
