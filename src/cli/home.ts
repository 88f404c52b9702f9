import { homedir } from "node:os";
import { join } from "node:path";
import { DATA_FILES, DEFAULT_HOME_DIR } from "../core/defaults.js";

/** The flags every client command accepts to find its server. */
export interface ClientFlags {
  /** The data dir (env `SESSIOND_HOME`). */
  home?: string;
  /** A JSON config file handed to a server this command starts (env `SESSIOND_CONFIG`). */
  config?: string;
  json?: boolean;
}

/**
 * The data dir, resolved the way the server and `sessiond/client` resolve it (flag <
 * `SESSIOND_HOME` < `~/.sessiond`), without loading the config schema: the client path stays cheap.
 */
export function resolveHome(flags: Pick<ClientFlags, "home">, env: NodeJS.ProcessEnv = process.env): string {
  return flags.home ?? (env.SESSIOND_HOME || join(env.HOME || homedir(), DEFAULT_HOME_DIR));
}

/** The server's Unix socket in a data dir. */
export function socketIn(home: string): string {
  return join(home, DATA_FILES.socket);
}
