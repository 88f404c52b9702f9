import { compileForNode } from "../compile.js";
import type { BigStore } from "./big-store.js";
import { type Figure, type Sizes, fmtMB, fmtRatio, log, runChild, tempDir } from "../lib.js";

interface RssResult {
  gcExposed: boolean;
  hot: number;
  contextBytes: number | null;
  baseline: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
}

const TARGET_BYTES = 150 * 1024 * 1024;

function describe(label: string, r: RssResult): string {
  const delta = r.after.rss - r.baseline.rss;
  return (
    `rss ${label}: baseline ${fmtMB(r.baseline.rss)}, with ${r.hot} hot sessions ${fmtMB(r.after.rss)} ` +
    `(+${fmtMB(delta)}, ${Math.round(delta / r.hot)} B/session; heap used ${fmtMB(r.baseline.heapUsed)} → ${fmtMB(r.after.heapUsed)}, ` +
    `heap total ${fmtMB(r.baseline.heapTotal)} → ${fmtMB(r.after.heapTotal)}, external ${fmtMB(r.baseline.external)} → ${fmtMB(r.after.external)}` +
    `${r.contextBytes === null ? "" : `; context ${r.contextBytes} B`}; gc ${r.gcExposed ? "forced" : "not exposed"})`
  );
}

function figure(name: string, r: RssResult, sessions: number, pass: boolean | null): Figure {
  if (r.hot < sessions) throw new Error(`rss: only ${r.hot} of ${sessions} sessions are hot`);
  const delta = r.after.rss - r.baseline.rss;
  return {
    name,
    measured: fmtMB(r.after.rss),
    peer: `baseline ${fmtMB(r.baseline.rss)} (+${fmtMB(delta)})`,
    ratio: fmtRatio(r.after.rss / r.baseline.rss),
    target: pass === null ? "≤ 150 MB (info)" : "≤ 150 MB RSS",
    pass: pass === null ? null : r.after.rss <= TARGET_BYTES,
    note: `${Math.round(delta / r.hot)} B/session${pass === null && r.after.rss > TARGET_BYTES ? ", over 150 MB" : ""}`,
  };
}

/**
 * Figure 5: RSS of a fresh process (plain node, compiled code) holding `rssSessions` hot
 * sessions with small contexts, beside the same process's RSS right after opening the store.
 */
export async function rssFigures(sizes: Sizes): Promise<Figure[]> {
  const { value: r } = await runChild<RssResult>(
    compileForNode(),
    "bench/children/rss-child.js",
    ["create", tempDir("rss"), String(sizes.rssSessions)],
    ["--expose-gc"],
  );
  log(describe("(fresh store)", r));
  return [figure(`RSS, ${r.hot.toLocaleString("en-US")} hot sessions, ${r.contextBytes} B contexts`, r, sizes.rssSessions, true)];
}

/**
 * The same, in the big store: the sessions are read from disk into the pool (list + get), so
 * the SQLite page cache fills as it would in a server on a large store. Informational.
 */
export async function rssBigStoreFigure(sizes: Sizes, big: BigStore): Promise<Figure[]> {
  const { value: r } = await runChild<RssResult>(
    compileForNode(),
    "bench/children/rss-child.js",
    ["load", big.home, String(sizes.rssSessions)],
    ["--expose-gc"],
  );
  log(describe(`(loaded from the ${Math.round(big.sessions / 1000)}k-session store)`, r));
  return [figure(`  (RSS, ${r.hot.toLocaleString("en-US")} sessions loaded from the ${Math.round(big.sessions / 1000)}k store)`, r, sizes.rssSessions, null)];
}
