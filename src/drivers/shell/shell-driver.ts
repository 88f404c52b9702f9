import type { LiveProcess, SessionDriver, StartSpec } from "../driver.js";
import { type DriverLog, silentLog } from "../log.js";
import { LocalTransport, spawnFailed } from "./local-transport.js";
import { ShellProcess } from "./shell-process.js";
import { type SshTarget, SshTransport } from "./ssh-transport.js";

/** Options of the shell driver. */
export interface ShellDriverOptions {
  /** The bash to run (locally and on ssh hosts). @default "bash" (config `shellPath`) */
  readonly shellPath?: string;
  readonly log?: DriverLog;
}

/**
 * Live shell sessions: one long-lived bash on a terminal per session — a node-pty PTY on the
 * local machine, or an ssh2 PTY channel on an ssh host (`server: "ssh"`, with the resolved
 * {@link SshTarget} in `spec.server.options.ssh`). The shell logic is the same on both.
 */
export class ShellDriver implements SessionDriver {
  readonly kind = "shell" as const;
  readonly targets = ["local", "ssh"] as const;
  private readonly shellPath: string;
  private readonly log: DriverLog;

  constructor(options: ShellDriverOptions = {}) {
    this.shellPath = options.shellPath ?? "bash";
    this.log = options.log ?? silentLog;
  }

  start(spec: StartSpec): Promise<LiveProcess> {
    if (spec.server.target === "ssh") {
      const target = spec.server.options?.ssh as SshTarget | undefined;
      if (!target) return Promise.reject(spawnFailed("no ssh target was given"));
      const shell = {
        shellPath: this.shellPath,
        cwd: spec.cwd,
        env: spec.env,
        cols: spec.cols,
        rows: spec.rows,
        term: spec.env.TERM ?? "xterm-256color",
        readyTimeoutMs: spec.limits.startTimeoutMs,
      };
      return ShellProcess.start(spec, (rc) => SshTransport.start(target, shell, rc, this.log), this.log);
    }
    return ShellProcess.start(spec, (rc) => LocalTransport.start(spec, this.shellPath, rc, this.log), this.log);
  }
}
