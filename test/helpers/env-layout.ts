import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A project folder (a command's working directory) and a data dir beside it, each 0700, with the
 * given `.env` contents (0600). The root goes into `dirs`, for the caller's cleanup.
 */
export function envLayout(dirs: string[], files: { cwd?: string; home?: string }): { root: string; cwd: string; home: string } {
  const root = mkdtempSync(join(tmpdir(), "sessiond-env-"));
  dirs.push(root);
  const cwd = join(root, "project");
  const home = join(root, "home");
  mkdirSync(cwd, { mode: 0o700 });
  mkdirSync(home, { mode: 0o700 });
  if (files.cwd !== undefined) writeFileSync(join(cwd, ".env"), files.cwd, { mode: 0o600 });
  if (files.home !== undefined) writeFileSync(join(home, ".env"), files.home, { mode: 0o600 });
  return { root, cwd, home };
}
