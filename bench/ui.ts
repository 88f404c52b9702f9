/**
 * The dashboard's speed figures, each beside its peer measured in the same run:
 *
 * - first paint of /ui (the sign-in page, a cold browser context each round);
 * - the sessions list's first page over N stored sessions (100,000 by default), from navigation to
 *   its first row on screen, beside a GET of the same page over HTTP (the request the page makes);
 * - keystroke to echo in the browser's terminal (key event to the echoed character rendered by
 *   xterm), beside `sessiond attach` (a byte written to its PTY to the echo read back), on two
 *   shells of the same server, round by round;
 * - the gzipped size of the built assets, all of them and what the first page loads (goal ≤ 300 KB).
 *
 *   npx tsx bench/ui.ts [--quick] [--sessions=100000] [--rounds=7] [--keys=40]
 *
 * Needs /usr/bin/chromium (Debian's chromium); `npm run bench:ui`.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { dataPaths } from "../src/core/index.js";
import { createUnixSocketServer, listenOnSocket } from "../src/server/index.js";
import { buildCli } from "../test/cli/build-cli.js";
import { type BrowserServer, launchBrowser, startBrowserServer, uiBuild } from "../test/browser/harness.js";
import { type Figure, fmtMs, fmtRatio, log, median, printFigures, quantile } from "./lib.js";

function arg(name: string, fallback: number): number {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split("=")[1]) : fallback;
}

const QUICK = process.argv.includes("--quick");
const SESSIONS = arg("sessions", QUICK ? 10_000 : 100_000);
const ROUNDS = arg("rounds", QUICK ? 3 : 7);
const KEYS = arg("keys", QUICK ? 10 : 40);
const GZIP_GOAL_BYTES = 300 * 1024;
/** The longest a step waits for the page before the run fails. */
const BENCH_WAIT_MS = 180_000;

const p90 = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.9);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** The build's files gzipped: all of them, and those the first page loads (index.html and what it links). */
function assetSizes(dir: string): { total: number; initial: number; files: number } {
  const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  const files = walk(dir);
  const gz = new Map(files.map((f) => [relative(dir, f), gzipSync(readFileSync(f), { level: 9 }).length]));
  const html = readFileSync(join(dir, "index.html"), "utf8");
  const linked = [...html.matchAll(/(?:src|href)="\/ui\/([^"]+)"/g)].map((m) => m[1]!);
  const initial = ["index.html", ...linked].reduce((sum, f) => sum + (gz.get(f) ?? 0), 0);
  return { total: [...gz.values()].reduce((a, b) => a + b, 0), initial, files: files.length };
}

/** Stores `n` sessions through the engine, in every status, as bench/http.ts does. */
async function seed(server: BrowserServer, n: number): Promise<void> {
  const statuses = ["active", "active", "paused", "completed"] as const;
  const batch = 2000;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async (_, j) => {
        const k = i + j;
        const s = await server.manager.create({ name: `bench-${k}`, agent_id: `agent-${k % 100}`, task: `benchmark task ${k}`, context: { k } });
        const status = statuses[k % statuses.length]!;
        if (status === "paused") await server.manager.pause(s.id);
        else if (status === "completed") await server.manager.complete(s.id, { ok: true });
      }),
    );
  }
}

/** A signed-in page (the token put in the tab's storage before the app loads, as after a sign-in). */
async function signedInPage(browser: Browser, server: BrowserServer): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // A loaded machine (the suites of others) can hold a cold first load of 100,000 sessions' counts past Playwright's 30 s.
  context.setDefaultTimeout(BENCH_WAIT_MS);
  await context.addInitScript((token) => (globalThis as unknown as { sessionStorage: { setItem(k: string, v: string): void } }).sessionStorage.setItem("sessiond.token", token), server.token);
  return context.newPage();
}

/** First contentful paint of the sign-in page in a fresh context, in ms from navigation start. */
async function firstPaint(browser: Browser, server: BrowserServer): Promise<number> {
  const context = await browser.newContext();
  context.setDefaultTimeout(BENCH_WAIT_MS);
  try {
    const page = await context.newPage();
    await page.goto(server.uiUrl);
    await page.getByLabel("Token").waitFor();
    return await page.evaluate(() => {
      const perf = (globalThis as unknown as { performance: { getEntriesByName(n: string): { startTime: number }[] } }).performance;
      return perf.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN;
    });
  } finally {
    await context.close();
  }
}

/** From navigation to the sessions table's first row in the DOM (observed in the page), and the list request the page made. */
async function listShown(browser: Browser, server: BrowserServer): Promise<{ ms: number; request: string; sent: number; answered: number; calls: string[] }> {
  const page = await signedInPage(browser, server);
  try {
    await page.addInitScript(() => {
      const g = globalThis as unknown as {
        performance: { now(): number };
        document: { querySelector(s: string): unknown };
        MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void; disconnect(): void };
        __listShownAt?: number;
      };
      const observer = new g.MutationObserver(() => {
        if (g.__listShownAt === undefined && g.document.querySelector('table[aria-label="Sessions"] tbody tr a')) {
          g.__listShownAt = g.performance.now();
          observer.disconnect();
        }
      });
      // The document itself: its root element does not exist yet when an init script runs.
      observer.observe(g.document, { childList: true, subtree: true });
    });
    const listRequest = page.waitForRequest((r) => new URL(r.url()).pathname === "/sessions/" || new URL(r.url()).pathname === "/sessions");
    await page.goto(server.uiUrl);
    const request = (await listRequest).url();
    await page.getByRole("table", { name: "Sessions" }).locator("tbody tr a").first().waitFor();
    const { ms, sent, answered, calls } = await page.evaluate((url) => {
      type Entry = { name: string; initiatorType: string; startTime: number; responseEnd: number };
      const g = globalThis as unknown as { __listShownAt: number; performance: { getEntriesByName(n: string): Entry[]; getEntriesByType(t: string): Entry[] } };
      const entry = g.performance.getEntriesByName(url)[0];
      // The API calls the page made before its first row showed, and when each was answered.
      const calls = g.performance
        .getEntriesByType("resource")
        .filter((e) => e.initiatorType === "fetch" && e.startTime < g.__listShownAt)
        .map((e) => `${new URL(e.name).pathname}${new URL(e.name).search} ${Math.round(e.startTime)}→${Math.round(e.responseEnd)} ms`);
      return { ms: g.__listShownAt, sent: entry?.startTime ?? Number.NaN, answered: entry?.responseEnd ?? Number.NaN, calls };
    }, request);
    return { ms, request, sent, answered, calls };
  } finally {
    await page.context().close();
  }
}

/** One GET of the list page over HTTP, as the page asks for it, in ms (body read). */
async function getList(url: string, token: string): Promise<number> {
  const start = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return performance.now() - start;
}

/** A page on a shell's terminal, driving, ready to time keystrokes. */
async function terminalPage(browser: Browser, server: BrowserServer, id: string): Promise<Page> {
  const page = await signedInPage(browser, server);
  await page.goto(`${server.uiUrl}sessions/${id}`);
  const terminal = page.getByRole("region", { name: "Terminal" });
  await terminal.getByRole("status").filter({ hasText: "You are the driver" }).waitFor();
  await terminal.locator(".xterm-screen").click();
  // Key event → the echoed text rendered in xterm's rows, observed in the page.
  await page.evaluate(() => {
    const g = globalThis as unknown as {
      performance: { now(): number };
      document: { addEventListener(t: string, f: () => void, capture: boolean): void; querySelector(s: string): { textContent: string | null } | null };
      MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void };
      __key?: { expect: string; at: number; echoes: number[] };
    };
    g.__key = { expect: "", at: 0, echoes: [] };
    g.document.addEventListener("keydown", () => (g.__key!.at = g.performance.now()), true);
    const rows = g.document.querySelector(".xterm-rows")!;
    new g.MutationObserver(() => {
      const k = g.__key!;
      if (k.at !== 0 && (rows.textContent ?? "").includes(k.expect)) {
        k.echoes.push(g.performance.now() - k.at);
        k.at = 0;
      }
    }).observe(rows, { childList: true, subtree: true, characterData: true });
  });
  return page;
}

/** One keystroke in the browser's terminal, typed after the text already echoed; ms to its echo. */
async function browserKeystroke(page: Page, typed: string, key: string): Promise<number> {
  await page.evaluate((expect) => void ((globalThis as unknown as { __key: { expect: string } }).__key.expect = expect), typed + key);
  const before = await page.evaluate(() => (globalThis as unknown as { __key: { echoes: number[] } }).__key.echoes.length);
  await page.keyboard.type(key);
  await page.waitForFunction((n) => (globalThis as unknown as { __key: { echoes: number[] } }).__key.echoes.length > n, before);
  return page.evaluate(() => (globalThis as unknown as { __key: { echoes: number[] } }).__key.echoes.at(-1)!);
}

/** `sessiond attach` in a PTY, with the echo of each byte written timed from the write. */
async function cliAttach(cli: string, home: string, id: string): Promise<{ keystroke(typed: string, key: string): Promise<number>; close(): void }> {
  const pty = await import("node-pty");
  const term = pty.spawn(process.execPath, [cli, "attach", id], { cols: 120, rows: 30, env: { ...process.env, SESSIOND_HOME: home } as Record<string, string> });
  let seen = "";
  let waiter: { text: string; resolve: () => void } | undefined;
  term.onData((data) => {
    seen = (seen + data).slice(-4096);
    if (waiter && seen.includes(waiter.text)) {
      waiter.resolve();
      waiter = undefined;
    }
  });
  const waitFor = (text: string) => new Promise<void>((resolve) => (seen.includes(text) ? resolve() : (waiter = { text, resolve })));
  // Attached once the shell answers: a marker echoed back.
  term.write("echo cli-$((20+22))-ready\r");
  await waitFor("cli-42-ready");
  term.write("\x15"); // Ctrl-U: an empty prompt line
  return {
    async keystroke(typed, key) {
      seen = "";
      const start = performance.now();
      term.write(key);
      await waitFor(key);
      void typed;
      return performance.now() - start;
    },
    close: () => {
      term.write("\x1d"); // Ctrl-]: detach
      setTimeout(() => term.kill(), 200).unref();
    },
  };
}

async function main(): Promise<void> {
  log(`bench:ui — ${SESSIONS} sessions, ${ROUNDS} rounds, ${KEYS} keystrokes${QUICK ? " (quick)" : ""}`);
  const sizes = assetSizes(await uiBuild());
  const [browser, server] = await Promise.all([launchBrowser(), startBrowserServer({ enableSessions: true, logLevel: "warn", rateLimitMax: 0 })]);
  const socket = createUnixSocketServer(server.app);
  const cli = await buildCli();
  try {
    await listenOnSocket(socket, dataPaths(server.config).socket);
    const seedStart = performance.now();
    await seed(server, SESSIONS);
    log(`seeded ${SESSIONS} sessions in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

    const paints: number[] = [];
    const shown: number[] = [];
    const sent: number[] = [];
    const answered: number[] = [];
    let calls: string[] = [];
    const gets: number[] = [];
    // A warm-up of each, unmeasured: the first compiles the server's routes and the browser's code cache.
    await firstPaint(browser, server);
    const { request } = await listShown(browser, server);
    await getList(request, server.token);
    for (let r = 0; r < ROUNDS; r++) {
      paints.push(await firstPaint(browser, server));
      const list = await listShown(browser, server);
      shown.push(list.ms);
      sent.push(list.sent);
      answered.push(list.answered);
      calls = list.calls;
      gets.push(await getList(request, server.token));
    }

    const client = server.client().sessions;
    const [webShell, cliShell] = await Promise.all([client.createSession({ kind: "shell", name: "bench-web-shell" }), client.createSession({ kind: "shell", name: "bench-cli-shell" })]);
    const page = await terminalPage(browser, server, webShell.id);
    const attach = await cliAttach(cli.main, server.config.home, cliShell.id);
    const web: number[] = [];
    const term: number[] = [];
    let typed = "";
    for (let k = 0; k < KEYS; k++) {
      const key = String.fromCharCode(97 + (k % 26));
      web.push(await browserKeystroke(page, typed, key));
      term.push(await attach.keystroke(typed, key));
      typed += key;
    }
    attach.close();
    await page.context().close();

    const figures: Figure[] = [
      {
        name: "first paint of /ui (sign-in page, cold context)",
        measured: fmtMs(median(paints)),
        peer: "target",
        ratio: "",
        target: "informational",
        pass: null,
      },
      {
        name: `sessions list, first page on screen over ${SESSIONS.toLocaleString("en")} sessions (navigation → first row)`,
        measured: fmtMs(median(shown)),
        peer: `GET ${new URL(request).pathname}${new URL(request).search} over HTTP ${fmtMs(median(gets))}`,
        ratio: fmtRatio(median(shown) / median(gets)),
        target: "informational (page load + app + the same GET)",
        pass: null,
        note: `the page sent its GET at ${fmtMs(median(sent))} and had the answer at ${fmtMs(median(answered))} after navigation; its calls before the first row (last round): ${calls.join(", ")}`,
      },
      {
        name: "keystroke → echo, browser terminal (xterm, rendered)",
        measured: `${fmtMs(median(web))} (p90 ${fmtMs(p90(web))})`,
        peer: `sessiond attach ${fmtMs(median(term))} (p90 ${fmtMs(p90(term))})`,
        ratio: fmtRatio(median(web) / median(term)),
        target: "informational",
        pass: null,
      },
      {
        name: `assets gzipped (${sizes.files} files; the first page loads ${kb(sizes.initial)})`,
        measured: kb(sizes.total),
        peer: "target",
        ratio: "",
        target: `≤ ${kb(GZIP_GOAL_BYTES)}`,
        pass: sizes.total <= GZIP_GOAL_BYTES,
      },
    ];
    printFigures(figures);
    for (const f of figures) if (f.note) console.log(`  ${f.name}: ${f.note}`);
  } finally {
    cli.remove();
    await new Promise((resolve) => socket.close(resolve));
    await browser.close();
    await server.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
