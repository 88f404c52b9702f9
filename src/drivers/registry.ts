import type { Config } from "../core/index.js";
import type { SessionDriver } from "./driver.js";
import type { DriverLog } from "./log.js";
import type { ExecKind } from "./modes.js";
import { ShellDriver } from "./shell/index.js";
import { LlmDriver, type LlmConfig, type SessionRecords } from "./llm/index.js";
import { PythonDriver } from "./python/index.js";
import { TypeScriptDriver } from "./typescript/index.js";

/** The drivers by kind. Adding a kind is a folder under src/drivers plus one line in `defaultDrivers`. */
export class DriverRegistry {
  private readonly drivers = new Map<ExecKind, SessionDriver>();

  /** @throws Error when the kind already has a driver (a programming error) */
  register(driver: SessionDriver): this {
    if (this.drivers.has(driver.kind)) throw new Error(`a driver for ${driver.kind} is already registered`);
    this.drivers.set(driver.kind, driver);
    return this;
  }

  get(kind: ExecKind): SessionDriver | undefined {
    return this.drivers.get(kind);
  }

  /** The kinds with a driver. */
  kinds(): ExecKind[] {
    return [...this.drivers.keys()];
  }
}

/** The drivers this build ships, configured. */
export function defaultDrivers(
  config: Pick<Config, "shellPath" | "pythonPath"> & LlmConfig,
  log?: DriverLog,
  /** Where llm sessions keep their conversation; without it there is no llm driver. */
  records?: SessionRecords,
): DriverRegistry {
  const registry = new DriverRegistry().register(new ShellDriver({ shellPath: config.shellPath, ...(log ? { log } : {}) }));
  registry.register(new PythonDriver({ pythonPath: config.pythonPath, ...(log ? { log } : {}) }));
  registry.register(new TypeScriptDriver(log ? { log } : {}));
  if (records) registry.register(new LlmDriver({ config, records, ...(log ? { log } : {}) }));
  return registry;
}
