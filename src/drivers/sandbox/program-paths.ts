import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Host paths a helper program needs to see inside a sandbox, which shows only /usr, /etc, the
 * workspace and what these name, read-only.
 */

/** The folder of every helper script (python/helper.py, typescript/helper.mjs…): they import each other across it. */
export const HELPERS_DIR = fileURLToPath(new URL("../", import.meta.url));

/**
 * The install prefix of an interpreter outside /usr (`<prefix>/bin/python3`: pyenv, nvm, a
 * venv), or nothing when the system's own is used.
 */
export function installPrefix(executable: string): string[] {
  let real: string;
  try {
    real = realpathSync(executable);
  } catch {
    return [];
  }
  return real.startsWith("/usr/") ? [] : [dirname(dirname(real))];
}

const require = createRequire(import.meta.url);

/** The folder of an npm package a helper imports (the llm helper's retry policy). */
export function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}
