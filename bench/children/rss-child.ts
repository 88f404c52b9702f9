/**
 * Child of figure 5: opens a store and an engine in a fresh process, records its RSS (the
 * baseline), makes N sessions hot and records its RSS again. Run with --expose-gc. Prints one
 * JSON line.
 * - `create`: creates N sessions with small contexts (~200 bytes) in a fresh store.
 * - `load`: in an existing (large) store, lists N sessions page by page and gets each, so they
 *   are read from disk into the hot pool, as a server restarted on a big store would.
 * Usage: node --expose-gc <compiled>/bench/children/rss-child.js <create|load> <home> <sessions> [config-json]
 * (config-json: extra config flags, e.g. '{"sqliteCacheBytes":2097152}', for experiments)
 */
const [mode, home, count, extra] = process.argv.slice(2);
if ((mode !== "create" && mode !== "load") || !home || !count) throw new Error("usage: rss-child <create|load> <home> <sessions> [config-json]");
const n = Number(count);
const gc = (globalThis as { gc?: () => void }).gc;
const collect = () => {
  for (let i = 0; i < 3; i++) gc?.();
};

const { resolveConfig } = await import("../../src/core/index.js");
const { openSqliteStore } = await import("../../src/store/index.js");
const { SessionManager } = await import("../../src/engine/index.js");
const flags = { home, sqliteSynchronous: "normal", hotPoolSize: Math.max(10_000, n), ...(extra ? (JSON.parse(extra) as object) : {}) };
const config = resolveConfig({ env: { HOME: home }, flags });
const manager = new SessionManager({ store: openSqliteStore(config), config });

/** A small context, about 200 bytes serialized. */
function contextOf(j: number) {
  return {
    goal: "refactor the session store",
    step: j % 40,
    files: [`src/mod-${j % 97}.ts`, `test/mod-${j % 97}.test.ts`],
    notes: "kept small on purpose: a realistic agent scratchpad entry, a line or two",
    budget: { tokens: 20_000, spent: j % 20_000 },
  };
}

// Touch the paths once so their code is loaded in the baseline too.
if (mode === "create") await manager.get((await manager.create({ context: contextOf(0) })).id);
else await manager.get((await manager.list({}, { limit: 1 })).items[0]!.id);
collect();
const baseline = process.memoryUsage();

const CHUNK = 500;
if (mode === "create") {
  for (let i = 1; i < n; i += CHUNK) {
    await Promise.all(
      Array.from({ length: Math.min(CHUNK, n - i) }, (_, k) =>
        manager.create({
          mode: "developer",
          agent_id: `agent-${(i + k) % 500}`,
          user_id: `user-${(i + k) % 2000}`,
          task: "Refactor the store",
          context: contextOf(i + k),
        }),
      ),
    );
  }
} else {
  let cursor: string | undefined;
  for (let loaded = 0; loaded < n; ) {
    const page = await manager.list({}, cursor === undefined ? { limit: CHUNK } : { limit: CHUNK, cursor });
    await Promise.all(page.items.map((s) => manager.get(s.id)));
    loaded += page.items.length;
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
}
await manager.flush();
collect();
const after = process.memoryUsage();
console.log(
  JSON.stringify({
    gcExposed: gc !== undefined,
    hot: manager.hotCount,
    contextBytes: mode === "create" ? Buffer.byteLength(JSON.stringify(contextOf(n))) : null,
    baseline,
    after,
  }),
);
await manager.close();
