/**
 * Child of figure 6: in a fresh process, opens the big store and answers one get.
 * `engine`: openSqliteStore + new SessionManager, then `await manager.get(id)`.
 * `raw`: new better-sqlite3 Database with WAL, then one SELECT by primary key.
 * Times are taken after the modules are imported (import time is reported apart).
 * Prints one JSON line. Usage: node <compiled>/bench/children/open-child.js (see bench/compile.ts) <engine|raw> <home> <db> <id>
 */
import { performance } from "node:perf_hooks";

const [mode, home, database, id] = process.argv.slice(2);
if (!mode || !home || !database || !id) throw new Error("usage: open-child <engine|raw> <home> <database> <id>");
const importStart = performance.now();

if (mode === "engine") {
  const { resolveConfig } = await import("../../src/core/index.js");
  const { openSqliteStore } = await import("../../src/store/index.js");
  const { SessionManager } = await import("../../src/engine/index.js");
  const t0 = performance.now();
  const config = resolveConfig({ env: { HOME: home }, flags: { home } });
  const store = openSqliteStore(config);
  const manager = new SessionManager({ store, config });
  const t1 = performance.now();
  const session = await manager.get(id);
  const t2 = performance.now();
  if (session.id !== id) throw new Error("open-child: wrong session");
  console.log(
    JSON.stringify({ importMs: t0 - importStart, openMs: t1 - t0, getMs: t2 - t1, totalMs: t2 - t0, sinceStartMs: t2, lastSeq: session.last_seq }),
  );
  await manager.close();
} else {
  const { default: Database } = await import("better-sqlite3");
  const t0 = performance.now();
  const db = new Database(database);
  db.pragma("journal_mode = WAL");
  const t1 = performance.now();
  const row = db.prepare("SELECT * FROM sessions WHERE id = ?").get(id) as { id: string; last_seq: number } | undefined;
  const t2 = performance.now();
  if (row?.id !== id) throw new Error("open-child: wrong row");
  console.log(JSON.stringify({ importMs: t0 - importStart, openMs: t1 - t0, getMs: t2 - t1, totalMs: t2 - t0, sinceStartMs: t2, lastSeq: row.last_seq }));
  db.close();
}
