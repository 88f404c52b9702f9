import type pg from "pg";
import { Umzug, type UmzugStorage } from "umzug";
import { type Migration, readMigrations } from "../migration-files.js";
import { LOCKS, lock, rows, transaction } from "./db.js";

/** The PostgreSQL migrations shipped with this build, in version order. */
export function shippedPostgresMigrations(): Migration[] {
  return readMigrations(new URL("./migrations/", import.meta.url));
}

/**
 * Brings the schema (the connection's `search_path`) to the newest version, recorded in
 * `schema_migrations` (the same table the SQLite store keeps). umzug runs the migrations; the
 * whole run is one transaction holding an advisory lock, so nodes starting together migrate one
 * after the other (the later ones find nothing left to do) and a failed migration leaves the
 * schema as it was: PostgreSQL's DDL is transactional. Refuses a schema newer than this build.
 * @returns the names of the migrations it applied
 */
export async function migratePostgres(pool: pg.Pool, migrations: readonly Migration[] = shippedPostgresMigrations()): Promise<string[]> {
  return transaction(pool, async (tx) => {
    await lock(tx, LOCKS.migrate);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const newest = migrations.at(-1)?.version ?? 0;
    const [recorded] = await rows<{ version: number | null }>(tx, "SELECT max(version) AS version FROM schema_migrations");
    if (recorded?.version != null && recorded.version > newest) {
      throw new Error(
        `the PostgreSQL schema has version ${recorded.version}, newer than this sessiond (${newest}); upgrade sessiond`,
      );
    }
    const umzug = new Umzug<pg.PoolClient>({
      migrations: migrations.map((m) => ({ name: m.name, up: async ({ context }) => context.query(m.sql) })),
      context: tx,
      storage: migrationTable(migrations),
      logger: undefined,
    });
    return (await umzug.up()).map((m) => m.name);
  });
}

/** umzug's record of applied migrations, kept in `schema_migrations` by version. */
function migrationTable(migrations: readonly Migration[]): UmzugStorage<pg.PoolClient> {
  const versionOf = (name: string): number => {
    const known = migrations.find((m) => m.name === name);
    if (!known) throw new Error(`unknown migration ${name}`);
    return known.version;
  };
  return {
    async executed({ context }) {
      const applied = await rows<{ version: number }>(context, "SELECT version FROM schema_migrations");
      const versions = new Set(applied.map((r) => r.version));
      // By version, not by file name: a shipped file is never renamed, but the version is the key.
      return migrations.filter((m) => versions.has(m.version)).map((m) => m.name);
    },
    async logMigration({ name, context }) {
      await context.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [
        versionOf(name),
        name,
        new Date().toISOString(),
      ]);
    },
    async unlogMigration({ name, context }) {
      await context.query("DELETE FROM schema_migrations WHERE version = $1", [versionOf(name)]);
    },
  };
}
