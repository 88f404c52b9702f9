/**
 * The browser suites' harness: the dashboard built once from ui/ (cached by the hash of its
 * sources), a real sessiond on a loopback port serving it with a temp SESSIOND_HOME and its log
 * kept in memory, Debian's Chromium driven headless by playwright-core, and the helpers every
 * page test uses (sign in, an axe-core check).
 *
 * It imports nothing of vitest, so scripts use it too (scripts/ui-screenshots.ts, bench/ui.ts).
 *
 * The suites need /usr/bin/chromium (`.ci/run` installs Debian's `chromium`): without it they
 * are skipped, saying why — except under CI (`CI=true`), where they run and fail.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { type Config, dataPaths, resolveConfig } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { type SessiondClient, createClient } from "../../src/sdk/client/index.js";
import { REDACTED_PATHS, buildApp } from "../../src/server/index.js";
import { openSqliteStore } from "../../src/store/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const UI_SOURCES = join(ROOT, "ui");

/** Debian's Chromium (the `chromium` package); SESSIOND_TEST_CHROMIUM names another binary. */
export const CHROMIUM = process.env.SESSIOND_TEST_CHROMIUM || "/usr/bin/chromium";

/**
 * Why the browser suites cannot run here, or undefined when they can. Under CI (`CI=true`) a
 * missing Chromium throws: CI must not pass by skipping. Use at a test file's top level:
 *
 * @example
 * const skip = browserSkipReason();
 * describe.skipIf(skip !== undefined)("the sign-in page", () => { … });
 */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `${CHROMIUM} is missing (install Debian's chromium package, as .ci/run does)`;
  if (process.env.CI === "true") throw new Error(`CI=true but ${reason}: the dashboard cannot be tested`);
  console.warn(`skipping the browser suites: ${reason} (set CI=true to fail instead)`);
  return reason;
}

/** A cached build of other sources unused for this long is removed when a new one is made. */
const STALE_BUILD_MS = 6 * 3_600_000;

/** Every file under ui/ that the build reads, with its content, hashed: the build's cache key. */
function sourcesHash(): string {
  const hash = createHash("sha256");
  const files = (readdirSync(UI_SOURCES, { recursive: true }) as string[])
    .filter((f) => !f.split(/[\\/]/).includes("node_modules") && statSync(join(UI_SOURCES, f)).isFile())
    .sort();
  for (const file of files) hash.update(`${file}\0`).update(readFileSync(join(UI_SOURCES, file))).update("\0");
  hash.update(readFileSync(join(ROOT, "package-lock.json")));
  return hash.digest("hex").slice(0, 16);
}

/**
 * The dashboard built from ui/ as `npm run build` builds it, into a cache folder named by the
 * hash of its sources: built once, and again only when they change (a build goes to a temp folder
 * renamed into place, so a half-built one is never used; two runs on the machine may each build
 * it, and the first in place is kept). Builds of other sources are removed once unused for hours (another run on
 * the machine may be serving one).
 * @returns the folder to serve (config `uiDir`)
 */
export async function uiBuild(): Promise<string> {
  const cache = join(ROOT, "node_modules", ".cache");
  const name = `sessiond-ui-${sourcesHash()}`;
  const dir = join(cache, name);
  if (existsSync(join(dir, "index.html"))) {
    // Its time is its last use: what the clean-up below goes by.
    const now = new Date();
    utimesSync(dir, now, now);
    return dir;
  }
  mkdirSync(cache, { recursive: true });
  const partial = mkdtempSync(join(cache, `${name}.partial-`));
  // `npm run build`'s own step (scripts/build-ui.mjs), into the cache.
  const script = join(ROOT, "scripts", "build-ui.mjs");
  const { buildUi } = (await import(script)) as { buildUi(options: { outDir: string; quiet?: boolean }): Promise<unknown> };
  await buildUi({ outDir: partial, quiet: true });
  try {
    renameSync(partial, dir);
  } catch (err) {
    // Another run built the same sources meanwhile: its build is as good.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
    rmSync(partial, { recursive: true, force: true });
  }
  // Other runs on this machine may be serving an older build, or making one, right now: only
  // long-unused ones go.
  for (const old of readdirSync(cache)) {
    const path = join(cache, old);
    if (old.startsWith("sessiond-ui-") && old !== name && Date.now() - statSync(path).mtimeMs > STALE_BUILD_MS) rmSync(path, { recursive: true, force: true });
  }
  return dir;
}

/** A sessiond serving the dashboard on a loopback port. */
export interface BrowserServer {
  readonly app: FastifyInstance;
  readonly manager: SessionManager;
  readonly config: Config;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** The dashboard's page: `<baseUrl>/ui/` */
  readonly uiUrl: string;
  /** The admin token. */
  readonly token: string;
  /** The SDK over TCP, as a program would use it; the admin token unless another is given. Closed with the server. */
  client(token?: string): SessiondClient;
  /** Everything the server logged so far (JSON lines; requests at debug level). */
  log(): string;
  /**
   * Stops the server gracefully (its streams end with `shutting_down`, as on SIGTERM) and starts
   * a new one on the same port and data dir, as an operator's restart does: sessions, events and
   * configured tokens are kept; what lived in memory (dashboard sign-ins from login codes) is not.
   * `app` and `manager` are the new server's after it; clients made by `client()` go on with it.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts sessiond in this process on 127.0.0.1, port 0, with a fresh data dir, serving the
 * dashboard build; logging at debug (every request) into memory, through the server's own
 * redaction, so a test can search the log for secrets. `options.clock` is the time the
 * dashboard's login codes and tokens expire by (and the failed-authentication windows).
 */
export async function startBrowserServer(flags: Record<string, unknown> = {}, options: { clock?: () => number } = {}): Promise<BrowserServer> {
  const uiDir = await uiBuild();
  const home = mkdtempSync(join(tmpdir(), "sessiond-browser-"));
  const config = resolveConfig({ env: { HOME: home }, flags: { home, port: 0, host: "127.0.0.1", sqliteSynchronous: "normal", uiDir, logLevel: "debug", ...flags } });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, sink);
  /** A server on `config`'s data dir, listening on `port`. */
  const serve = async (port: number): Promise<{ app: FastifyInstance; manager: SessionManager }> => {
    const store = openSqliteStore(config);
    const manager = new SessionManager({ store, config });
    try {
      const app = await buildApp({ config, manager, store, logger, ...(options.clock ? { clock: options.clock } : {}) });
      await app.listen({ host: config.host, port });
      return { app, manager };
    } catch (err) {
      await manager.close();
      throw err;
    }
  };
  let running: { app: FastifyInstance; manager: SessionManager };
  try {
    running = await serve(config.port);
  } catch (err) {
    rmSync(home, { recursive: true, force: true });
    throw err;
  }
  const { port } = running.app.server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const token = readFileSync(dataPaths(config).token, "utf8").trim();
  const clients: SessiondClient[] = [];
  const stop = async () => {
    await running.app.close();
    await running.manager.close();
  };
  return {
    get app() {
      return running.app;
    },
    get manager() {
      return running.manager;
    },
    config,
    baseUrl,
    uiUrl: `${baseUrl}/ui/`,
    token,
    client(as = token) {
      const client = createClient({ baseUrl, token: as, home });
      clients.push(client);
      return client;
    },
    log: () => lines.join(""),
    async restart() {
      await stop();
      running = await serve(port);
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}


/** Chromium, headless (its own sandbox off: the suites may run as root in a container). */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

/** What a page did that a test may look at: the URLs it asked for, its dialogs, its console errors. */
export interface PageRecord {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every request URL the page made, WebSocket upgrades included. */
  readonly urls: string[];
  /** The messages of alert/confirm/prompt dialogs that opened (each dismissed at once). */
  readonly dialogs: string[];
  /** Uncaught exceptions in the page. */
  readonly pageErrors: string[];
}

/**
 * A new page in a context of its own (its own sessionStorage), recording every URL it requests
 * and every dialog it opens.
 */
export async function newPage(browser: Browser, options: { clipboard?: boolean } = {}): Promise<PageRecord> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (options.clipboard) await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const page = await context.newPage();
  const urls: string[] = [];
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  page.on("request", (request) => void urls.push(request.url()));
  page.on("websocket", (socket) => void urls.push(socket.url()));
  page.on("framenavigated", (frame) => void urls.push(frame.url()));
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on("pageerror", (err) => void pageErrors.push(err.message));
  return { page, context, urls, dialogs, pageErrors };
}

/** Signs the page in with a token through the form, as a person would, and waits for the app's navigation. */
export async function signIn(page: Page, server: Pick<BrowserServer, "uiUrl">, token: string): Promise<void> {
  await page.goto(server.uiUrl);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Sessions" }).first().waitFor();
}

/**
 * The browser globals the suites' page functions use, typed here: the repository's tsconfig is
 * Node's (no DOM lib). A page function reads them as `(globalThis as unknown as PageGlobals)`.
 */
export interface PageGlobals {
  readonly sessionStorage: { getItem(key: string): string | null };
  readonly navigator: { readonly clipboard: { writeText(text: string): Promise<void>; readText(): Promise<string> } };
  readonly document: unknown;
  /** axe-core, once its source ran in the page. */
  readonly axe?: { run(context: unknown): Promise<{ violations: AxeViolation[] }> };
  /** Set by a payload that ran; the escaping tests check it stays unset. */
  readonly __pwned?: number;
}

/** An axe-core result, as far as the check reads it. */
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/**
 * Runs axe-core in the page (its source evaluated there, which the page's CSP does not govern)
 * and throws on any serious or critical violation, listing each with the elements it found.
 */
export async function axeCheck(page: Page): Promise<void> {
  const axe = (await import("axe-core")).default as unknown as { source: string };
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    const page = globalThis as unknown as PageGlobals;
    const result = await page.axe!.run(page.document);
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (serious.length > 0) {
    const list = serious.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`);
    throw new Error(`axe-core found ${serious.length} serious or critical violation(s) on ${page.url()}:\n${list.join("\n")}`);
  }
}
