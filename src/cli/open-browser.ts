import { spawn } from "node:child_process";

/**
 * Hands a URL to the desktop's opener (`xdg-open`, `open` on macOS) and returns once it started,
 * not when the browser closes. Loaded on demand (the CLI bundle keeps child_process out of the
 * commands that do not spawn).
 * @returns undefined when the opener started, else why not
 */
export function openInBrowser(url: string): Promise<string | undefined> {
  const opener = process.platform === "darwin" ? "open" : "xdg-open";
  return new Promise((resolve) => {
    const child = spawn(opener, [url], { stdio: "ignore", detached: true });
    child.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ENOENT" ? `${opener} is not installed` : err.message));
    child.once("spawn", () => {
      child.unref();
      resolve(undefined);
    });
  });
}
