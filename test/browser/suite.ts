import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import type { SessiondClient } from "../../src/sdk/client/index.js";
import { type BrowserServer, type PageRecord, launchBrowser, newPage, startBrowserServer } from "./harness.js";

/*
 * The vitest side of the browser harness, apart from harness.ts, which the scripts
 * (scripts/ui-screenshots.ts, bench/ui.ts) import outside vitest.
 */

/** A browser and a dashboard server shared by the tests of one describe block. */
export interface BrowserSuite {
  readonly browser: Browser;
  readonly server: BrowserServer;
  /** The SDK as the admin. */
  readonly sdk: SessiondClient;
  /** A new page (newPage), closed after the test that opened it. */
  open(options?: { clipboard?: boolean }): Promise<PageRecord>;
}

/**
 * Starts Chromium and a server (startBrowserServer with `flags`) before the block's tests and
 * closes both after them. Call it in a describe block; its members are there once the tests run.
 */
export function browserSuite(flags: Record<string, unknown> = {}): BrowserSuite {
  let started: { browser: Browser; server: BrowserServer; sdk: SessiondClient } | undefined;
  const pages: PageRecord[] = [];
  const running = () => {
    if (!started) throw new Error("the browser suite has not started (use it inside a test)");
    return started;
  };
  beforeAll(async () => {
    const [browser, server] = await Promise.all([launchBrowser(), startBrowserServer(flags)]);
    started = { browser, server, sdk: server.client() };
  });
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.context.close()));
  });
  afterAll(async () => {
    await started?.browser.close();
    await started?.server.close();
  });
  return {
    get browser() {
      return running().browser;
    },
    get server() {
      return running().server;
    },
    get sdk() {
      return running().sdk;
    },
    async open(options = {}) {
      const record = await newPage(running().browser, options);
      pages.push(record);
      return record;
    },
  };
}
