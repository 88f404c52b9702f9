import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { type Config, resolveConfig } from "../core/config.js";

/** The flags every command that needs a config accepts. */
export interface ConfigFlags {
  /** A JSON config file; env `SESSIOND_CONFIG`. */
  config?: string;
  home?: string;
  host?: string;
  port?: string;
}

/**
 * The effective config: defaults < config file (JSON, `--config FILE` or `SESSIOND_CONFIG`) <
 * environment (`SESSIOND_*`) < flags. Validated and frozen by resolveConfig.
 * @throws Error naming the file when it cannot be read or parsed; SessiondError naming the key
 */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv): Config {
  const path = flags.config ?? env.SESSIOND_CONFIG;
  let file: Record<string, unknown> | undefined;
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`cannot read the config file ${path}: ${(err as Error).message}`);
    }
    try {
      file = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`the config file ${path} is not valid JSON: ${(err as Error).message}`);
    }
    if (file === null || typeof file !== "object" || Array.isArray(file)) throw new Error(`the config file ${path} must hold a JSON object`);
  }
  return resolveConfig({
    ...(file ? { file } : {}),
    env: { ...env, HOME: env.HOME ?? homedir() },
    flags: { home: flags.home, host: flags.host, port: flags.port },
  });
}
