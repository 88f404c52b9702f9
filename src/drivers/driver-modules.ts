import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type Config, MODE_NAME_PATTERN } from "../core/index.js";
import type { SessionDriver } from "./driver.js";
import type { DriverLog } from "./log.js";

/**
 * Drivers from outside this build (docs/drivers.md): a new mode is a module whose default export
 * (or export `driver`) is a {@link SessionDriver}, or a function that makes one, listed in config
 * `driverModules` for `sessiond serve`, or passed to `buildApp({ drivers })`.
 */

/** What a driver factory is given. */
export interface DriverContext {
  readonly config: Config;
  /** The server's logger (pino's API subset). */
  readonly log: DriverLog;
}

/** A driver module's export: the driver, or a function that makes it (sync or async) from the server's config and logger. */
export type DriverExport = SessionDriver | ((context: DriverContext) => SessionDriver | Promise<SessionDriver>);

const MODE_NAME = new RegExp(MODE_NAME_PATTERN);

/**
 * Checks that a value keeps the {@link SessionDriver} contract as far as can be seen before it
 * runs: a `kind` that is a mode name (not `agent`), its `targets`, a `start` function, and the
 * optional members' types.
 * @param source what to name in the error (the module)
 * @throws Error `<source>: not a session driver: <what is wrong>`
 */
export function checkDriver(value: unknown, source: string): SessionDriver {
  const fail = (reason: string): never => {
    throw new Error(`${source}: not a session driver: ${reason} (docs/drivers.md)`);
  };
  if (value === null || typeof value !== "object") return fail(`expected an object, got ${value === null ? "null" : typeof value}`);
  const d = value as Record<string, unknown>;
  if (typeof d.kind !== "string" || !MODE_NAME.test(d.kind)) return fail(`kind ${JSON.stringify(d.kind)} is not a mode name (${MODE_NAME_PATTERN})`);
  if (d.kind === "agent") return fail("kind agent is a record, not a mode");
  if (!Array.isArray(d.targets) || d.targets.length === 0 || !d.targets.every((t) => typeof t === "string")) {
    return fail('targets must list the servers it runs on (["local"])');
  }
  if (typeof d.start !== "function") return fail("start(spec) is missing");
  if (d.checkStart !== undefined && typeof d.checkStart !== "function") return fail("checkStart is not a function");
  if (d.startOptions !== undefined && !(Array.isArray(d.startOptions) && d.startOptions.every((o) => typeof o === "string"))) {
    return fail("startOptions must be a list of option names");
  }
  return value as SessionDriver;
}

/**
 * Makes the drivers of one export: calls a factory with the context, then checks what came.
 * @throws Error naming `source` when the export is not a driver or the factory fails
 */
export async function driverFromExport(exported: unknown, source: string, context: DriverContext): Promise<SessionDriver> {
  if (typeof exported !== "function") return checkDriver(exported, source);
  let made: unknown;
  try {
    made = await (exported as (c: DriverContext) => unknown)(context);
  } catch (err) {
    throw new Error(`${source}: its driver factory failed: ${(err as Error).message}`, { cause: err });
  }
  return checkDriver(made, source);
}

/**
 * Loads config `driverModules`, in order: each a path (absolute, or relative to `cwd`) or a
 * package name resolved from `cwd`, whose default export or export `driver` is a
 * {@link DriverExport}.
 * @throws Error naming the module: it cannot be found or loaded, exports no driver, or exports something that is not one
 */
export async function loadDriverModules(specs: readonly string[], context: DriverContext & { readonly cwd: string }): Promise<SessionDriver[]> {
  const drivers: SessionDriver[] = [];
  for (const spec of specs) {
    const source = `driver module ${spec}`;
    let url: string;
    try {
      url = spec.startsWith(".") || isAbsolute(spec) ? pathToFileURL(resolve(context.cwd, spec)).href : pathToFileURL(createRequire(join(context.cwd, "package.json")).resolve(spec)).href;
    } catch (err) {
      throw new Error(`${source}: cannot find it from ${context.cwd}: ${(err as Error).message.split("\n")[0]}`, { cause: err });
    }
    let module: Record<string, unknown>;
    try {
      module = (await import(url)) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${source}: cannot load it: ${(err as Error).message.split("\n")[0]}`, { cause: err });
    }
    const exported = module.default ?? module.driver;
    if (exported === undefined) throw new Error(`${source}: exports no driver (export default a SessionDriver, or a function that makes one; docs/drivers.md)`);
    drivers.push(await driverFromExport(exported, source, context));
  }
  return drivers;
}
