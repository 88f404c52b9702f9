import type Database from "better-sqlite3";
import { type Migration, readMigrations } from "../migration-files.js";

export type { Migration } from "../migration-files.js";

/** The migrations shipped with this build, in version order. */
export function shippedMigrations(): Migration[] {
  return readMigrations(new URL("./migrations/", import.meta.url));
}

/**
 * Brings the database to the newest schema, each migration in its own transaction, recorded in
 * `schema_migrations`. Synchronous on purpose: seed 004's embedded API reads synchronously, so
 * the store it opens lazily must be ready without awaiting (the maintained runners, umzug and
 * postgrator, are asynchronous). Refuses a database newer than this build.
 */
export function migrate(db: Database.Database, migrations: Migration[] = shippedMigrations()): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version),
  );
  refuseNewer(applied, migrations);
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  const ran: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    }).immediate();
    ran.push(m.version);
  }
  return ran;
}

/**
 * Checks, without writing, that this build reads the database's schema: for a process that reads
 * a store another process owns and migrates. @throws Error when the database is newer than this build
 */
export function assertKnownSchema(db: Database.Database, migrations: Migration[] = shippedMigrations()): void {
  const applied = (db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version);
  refuseNewer(new Set(applied), migrations);
}

function refuseNewer(applied: ReadonlySet<number>, migrations: readonly Migration[]): void {
  const newest = migrations.at(-1)?.version ?? 0;
  const unknown = [...applied].filter((v) => v > newest);
  if (unknown.length) {
    throw new Error(`the database has schema version ${Math.max(...unknown)}, newer than this sessiond (${newest}); upgrade sessiond`);
  }
}
