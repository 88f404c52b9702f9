import { readEnvFiles } from "../sdk/env-files.js";
import { reportError } from "./fail.js";

/**
 * Takes the settings of the working directory's and the data dir's `.env` into `process.env`
 * (a variable already set stays as it is), so every part of the command — the config, the client,
 * a server it starts in the background — sees one environment. Each warning goes to stderr; a
 * `.env` sessiond refuses (another user's, or writable by others) ends the command, exit code 2.
 */
export function applyEnvFiles(flags: { home?: string; json?: boolean }): void {
  let read;
  try {
    read = readEnvFiles({ env: process.env, cwd: process.cwd(), ...(flags.home ? { home: flags.home } : {}) });
  } catch (err) {
    reportError(err, flags.json === true);
    process.exit(process.exitCode);
  }
  for (const warning of read.warnings) console.error(`warning: ${warning}`);
  for (const [name, value] of Object.entries(read.values)) process.env[name] = value;
}
