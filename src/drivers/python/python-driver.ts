import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LiveProcess, SessionDriver, StartSpec } from "../driver.js";
import { type CellLanguage, PipeProcess } from "../interpreter/index.js";
import { type DriverLog, silentLog } from "../log.js";
import { HELPERS_DIR, installPrefix } from "../sandbox/index.js";

/** Options of the python driver. */
export interface PythonDriverOptions {
  /** The interpreter. @default "python3" (config `pythonPath`) */
  readonly pythonPath?: string;
  readonly log?: DriverLog;
}

/** The helper script, shipped beside this file (scripts/copy-assets.mjs copies it into dist/). */
const HELPER = fileURLToPath(new URL("./helper.py", import.meta.url));

/** Cells that may move the working directory or touch the environment (then saved for recovery at once). */
const MAY_CHANGE_STATE = /\bos\s*\.\s*(chdir|environ|putenv|unsetenv)\b|\bchdir\s*\(|\benviron\b/;

const python: CellLanguage = {
  kind: "python",
  prepare: async (input) => ({ request: { code: input } }),
  // The helper prints the value (sys.displayhook) and the traceback itself.
  finish: () => ({}),
  mayChangeState: (input) => MAY_CHANGE_STATE.test(input),
};

/**
 * Live Python sessions: one `python3 -u helper.py` per session, keeping one namespace (see
 * docs/interpreters.md). The interpreter path is resolved once to the real executable
 * (`sys.executable`), so a version-manager shim (pyenv's costs more than a second here) is paid
 * once per server instead of once per session.
 */
export class PythonDriver implements SessionDriver {
  readonly kind = "python" as const;
  readonly targets = ["local"] as const;
  private readonly pythonPath: string;
  private readonly log: DriverLog;
  private resolved: Promise<string> | undefined;

  constructor(options: PythonDriverOptions = {}) {
    this.pythonPath = options.pythonPath ?? "python3";
    this.log = options.log ?? silentLog;
  }

  async start(spec: StartSpec): Promise<LiveProcess> {
    const command = await this.interpreter(spec);
    return PipeProcess.start(spec, {
      command,
      // -u: unbuffered stdout/stderr, so output streams as the cell prints it.
      args: ["-u", HELPER],
      language: python,
      log: this.log,
      env: { PYTHONIOENCODING: "utf-8" },
      readOnlyPaths: [HELPERS_DIR, ...installPrefix(command)],
    });
  }

  /** The real interpreter behind `pythonPath` (falls back to `pythonPath` itself when asking fails). */
  private interpreter(spec: StartSpec): Promise<string> {
    this.resolved ??= new Promise<string>((resolve) => {
      execFile(
        this.pythonPath,
        ["-c", "import sys; sys.stdout.write(sys.executable)"],
        // The server's own environment, not the session's: this runs on the host, as the server,
        // and a session's PATH, BASH_ENV or LD_PRELOAD (pyenv's shim is a bash script) must not choose what runs.
        { timeout: spec.limits.startTimeoutMs },
        (err, stdout) => {
          if (!err && stdout.startsWith("/")) return resolve(stdout);
          // Not cached: the next start asks again (the interpreter may be installed by then).
          this.resolved = undefined;
          resolve(this.pythonPath);
        },
      );
    });
    return this.resolved;
  }
}
