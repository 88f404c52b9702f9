import type { Config } from "../core/index.js";
import type { SessionDriver } from "./driver.js";
import type { DriverLog } from "./log.js";
import type { ExecKind } from "./modes.js";
import { ShellDriver } from "./shell/index.js";

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
export function defaultDrivers(config: Pick<Config, "shellPath">, log?: DriverLog): DriverRegistry {
  return new DriverRegistry().register(new ShellDriver({ shellPath: config.shellPath, ...(log ? { log } : {}) }));
}
