import type { LiveProcess, SessionDriver, StartSpec } from "../driver.js";
import { type DriverLog, silentLog } from "../log.js";
import { LocalTransport } from "./local-transport.js";
import { ShellProcess } from "./shell-process.js";

/** Options of the shell driver. */
export interface ShellDriverOptions {
  /** The bash to run. @default "bash" (config `shellPath`) */
  readonly shellPath?: string;
  readonly log?: DriverLog;
}

/**
 * Live shell sessions: one long-lived bash on a PTY per session (node-pty), on the local machine.
 * The `ssh` target will start the same setup over an ssh channel.
 */
export class ShellDriver implements SessionDriver {
  readonly kind = "shell" as const;
  readonly targets = ["local"] as const;
  private readonly shellPath: string;
  private readonly log: DriverLog;

  constructor(options: ShellDriverOptions = {}) {
    this.shellPath = options.shellPath ?? "bash";
    this.log = options.log ?? silentLog;
  }

  start(spec: StartSpec): Promise<LiveProcess> {
    return ShellProcess.start(spec, (rc) => LocalTransport.start(spec, this.shellPath, rc, this.log), this.log);
  }
}
