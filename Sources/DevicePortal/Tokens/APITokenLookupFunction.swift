import Fluent
import FluentPostgresDriver
import SQLKit

/// On PostgreSQL, the guard's look-up of an API token (`APITokenLookup.Statement`'s join) as a
/// PL/pgSQL function. PL/pgSQL keeps the plan of its query on each server connection, so the
/// join is parsed and planned once per connection even where the portal may not keep prepared
/// statements (a transaction pooler such as PgBouncer hands each transaction any server
/// connection); what is parsed per request is only `SELECT * FROM portal_api_token_principal($1)`.
/// It reads the *current* membership and role on every call, as the join does. SQLite has no
/// such functions and runs the join itself. A later change to the look-up replaces the function
/// in a new migration (`CREATE OR REPLACE FUNCTION`); `APITokenLookupFunctionTests` compares
/// its rows with the join's.
struct CreateAPITokenLookupFunction: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard database is any PostgresDatabase else { return }
        try await database.sql.raw(
            """
            CREATE FUNCTION portal_api_token_principal(token_hash text)
            RETURNS TABLE (
                token_id uuid, expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz,
                user_id uuid, email text, user_name text, organization_id uuid, slug text,
                organization_name text, role_name text, permissions text
            )
            LANGUAGE plpgsql STABLE
            AS $function$
            #variable_conflict use_column
            BEGIN
                RETURN QUERY
                SELECT t.id, t.expires_at, t.revoked_at, t.last_used_at, u.id, u.email, u.name,
                    o.id, o.slug, o.name, r.name, r.permissions
                FROM api_tokens t
                JOIN users u ON u.id = t.user_id
                JOIN organizations o ON o.id = t.organization_id
                LEFT JOIN memberships m ON m.user_id = t.user_id AND m.organization_id = t.organization_id
                LEFT JOIN roles r ON r.id = m.role_id
                WHERE t.token_hash = $1;
            END
            $function$
            """
        ).run()
    }

    func revert(on database: any Database) async throws {
        guard database is any PostgresDatabase else { return }
        try await database.sql.raw("DROP FUNCTION IF EXISTS portal_api_token_principal(text)").run()
    }
}
