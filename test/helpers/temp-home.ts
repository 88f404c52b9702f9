import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Config, resolveConfig } from "../../src/core/index.js";

/** A fresh data dir under the OS temp dir, and a config pointing at it. */
export function tempHome(flags: Record<string, unknown> = {}): { home: string; config: Config; remove: () => void } {
  const home = mkdtempSync(join(tmpdir(), "sessiond-test-"));
  const config = resolveConfig({ env: { HOME: home }, flags: { home, ...flags } });
  return { home, config, remove: () => rmSync(home, { recursive: true, force: true }) };
}
