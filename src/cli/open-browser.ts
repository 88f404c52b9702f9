import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OPENER_WATCH_MS } from "../core/defaults.js";

/**
 * The page `sessiond ui --open` hands the browser, in the data dir: it only sends the browser on
 * to the login link. Each run replaces it.
 */
export const LOGIN_PAGE_FILE = "ui-login.html";

/**
 * Opens a login link (`…/ui/#code=…`) in a browser without putting it on a command line, where
 * every local user could read it (`/proc/<pid>/cmdline`, `ps`): the link goes into a page of the
 * data dir readable by this user only (mode 0600, written under another name and renamed into
 * place), and the opener is given that page's path, which redirects to the link. The page is left
 * there, replaced by the next run: the code in it works once and expires after config
 * `uiLoginCodeTtlMs`, and the data dir holds the admin token anyway. Jupyter opens its server
 * the same way.
 * @returns undefined when the opener started, else why not
 */
export function openLoginLink(url: string, dataDir: string): Promise<string | undefined> {
  let page: string;
  try {
    page = writeRedirectPage(url, dataDir);
  } catch (err) {
    return Promise.resolve(`could not write ${join(dataDir, LOGIN_PAGE_FILE)}: ${(err as Error).message}`);
  }
  return openInBrowser(page);
}

/**
 * Writes the page that redirects to `url` into `dir` (made, mode 0700, when missing).
 * @returns the page's path
 */
export function writeRedirectPage(url: string, dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOGIN_PAGE_FILE);
  // A new file (never one already there, nor what a link there points at), then renamed over the page.
  const fresh = join(dir, `.${LOGIN_PAGE_FILE}.${randomBytes(6).toString("hex")}`);
  writeFileSync(fresh, redirectPage(url), { mode: 0o600, flag: "wx" });
  renameSync(fresh, path);
  return path;
}

/** A page that sends the browser on to `url` at once, with a link for a browser that does not follow. */
export function redirectPage(url: string): string {
  const href = escapeAttribute(url);
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="referrer" content="no-referrer">',
    `<meta http-equiv="refresh" content="0;url=${href}">`,
    "<title>sessiond dashboard</title>",
    "</head>",
    `<body><p>Opening the sessiond dashboard… <a href="${href}">continue</a></p></body>`,
    "</html>",
    "",
  ].join("\n");
}

/**
 * Hands a path or URL to the desktop's opener (`xdg-open`, `open` on macOS) and watches it for
 * OPENER_WATCH_MS: an opener that exits with a failure in that time (xdg-open with no browser or
 * display exits 3, "no method available") is reported with what it printed; one that succeeds or
 * is still running has opened it. It never waits for the browser to close. Loaded on demand (the
 * CLI bundle keeps child_process out of the commands that do not spawn).
 * @returns undefined when the opener did not fail, else why it did
 */
export function openInBrowser(target: string): Promise<string | undefined> {
  const opener = process.platform === "darwin" ? "open" : "xdg-open";
  return new Promise((resolve) => {
    const child = spawn(opener, [target], { stdio: ["ignore", "ignore", "pipe"], detached: true });
    let said = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => (said = (said + text).slice(-MAX_OPENER_OUTPUT)));
    const release = (problem: string | undefined) => {
      clearTimeout(watch);
      child.stderr!.destroy();
      child.unref();
      resolve(problem);
    };
    const watch = setTimeout(() => release(undefined), OPENER_WATCH_MS);
    child.once("error", (err: NodeJS.ErrnoException) => release(err.code === "ENOENT" ? `${opener} is not installed` : err.message));
    child.once("exit", (code, signal) => {
      if (code === 0) return release(undefined);
      const why = said.trim().split("\n").at(-1) ?? "";
      release(`${opener} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${why ? `: ${why}` : ""}`);
    });
  });
}

/** The most of the opener's stderr kept for the report (its last line is the reason). */
const MAX_OPENER_OUTPUT = 2048;

function escapeAttribute(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
