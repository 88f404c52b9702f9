import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { errors } from "../../core/index.js";
import type { LiveProcess, SandboxPlan, SessionDriver, StartCheck, StartSpec } from "../driver.js";
import { type CellLanguage, PipeProcess } from "../interpreter/index.js";
import { type DriverLog, silentLog } from "../log.js";
import { HELPERS_DIR, hostPathOf, installPrefix, visibleInSandbox } from "../sandbox/index.js";

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
 * docs/interpreters.md). The configured interpreter is resolved once to the real executable
 * (`sys.executable`), so a version-manager shim (pyenv's costs more than a second here) is paid
 * once per server instead of once per session. A session's own `interpreter` (a start option)
 * is run as given, and never on the host outside the sandbox: whoever starts a session chose it.
 */
export class PythonDriver implements SessionDriver {
  readonly kind = "python" as const;
  readonly targets = ["local"] as const;
  readonly startOptions = ["interpreter"] as const;
  private readonly pythonPath: string;
  private readonly log: DriverLog;
  private resolved: Promise<string> | undefined;

  constructor(options: PythonDriverOptions = {}) {
    this.pythonPath = options.pythonPath ?? "python3";
    this.log = options.log ?? silentLog;
  }

  /**
   * A session's `interpreter`: an executable file its sandbox shows (the read-only system, config
   * `sandboxReadOnlyPaths`, the configured interpreter's installation).
   * @throws validation naming `interpreter`
   */
  async checkStart(start: StartCheck): Promise<void> {
    const path = start.options.interpreter;
    if (path === undefined) return;
    const notVisible = errors.validation(
      "interpreter",
      `${path} is not visible inside the session's sandbox: use one under /usr, or add its installation folder to config sandboxReadOnlyPaths`,
    );
    // Judged where the path leads on the host, whether or not it exists: whether a path the
    // sandbox does not show exists on the host is not the caller's to learn, and a link in the
    // workspace can lead anywhere.
    const real = await hostPathOf(path);
    if (!start.visible(real) && !(await this.sharesInstall(real, start.timeoutMs))) throw notVisible;
    const executable = (await stat(real).then((s) => s.isFile(), () => false)) && (await access(real, constants.X_OK).then(() => true, () => false));
    if (!executable) throw errors.validation("interpreter", `${path} is not an executable file on the sessiond host`);
  }

  async start(spec: StartSpec): Promise<LiveProcess> {
    const configured = await this.interpreter(spec.limits.startTimeoutMs);
    const prefix = installPrefix(configured);
    const given = spec.options?.interpreter;
    const own = given === undefined ? undefined : await runnablePath(given, spec.sandbox, prefix);
    const command = own ?? configured;
    return PipeProcess.start(spec, {
      command,
      // -u: unbuffered stdout/stderr, so output streams as the cell prints it.
      args: ["-u", HELPER],
      language: python,
      log: this.log,
      env: { PYTHONIOENCODING: "utf-8" },
      // A session's own interpreter is visible already (checkStart), or lives in the configured one's installation.
      readOnlyPaths: [HELPERS_DIR, ...(own === undefined || sameInstall(installPrefix(own), prefix) ? prefix : [])],
    });
  }

  /** Whether `real` lives in the configured interpreter's installation (pyenv's versions/3.x). */
  private async sharesInstall(real: string, timeoutMs: number): Promise<boolean> {
    const prefix = installPrefix(await this.interpreter(timeoutMs));
    return sameInstall(installPrefix(real), prefix);
  }

  /** The real interpreter behind `pythonPath` (falls back to `pythonPath` itself when asking fails). */
  private interpreter(timeoutMs: number): Promise<string> {
    this.resolved ??= new Promise<string>((resolve) => {
      execFile(
        this.pythonPath,
        ["-c", "import sys; sys.stdout.write(sys.executable)"],
        // The server's own environment, not the session's: this runs on the host, as the server,
        // and a session's PATH, BASH_ENV or LD_PRELOAD (pyenv's shim is a bash script) must not choose what runs.
        { timeout: timeoutMs },
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

/**
 * Where the sandbox finds the interpreter a start names (checkStart judged it where it leads): in
 * its folder as the folder's links lead — the file itself stays as named, since a venv's python is
 * a link, and Python finds the venv's pyvenv.cfg beside the name it was run by — or, when the
 * sandbox shows no such folder (`<another workspace>/py -> /usr/bin/python3`), the file it leads to.
 */
async function runnablePath(path: string, sandbox: SandboxPlan | undefined, installation: readonly string[]): Promise<string> {
  const absolute = resolve(path);
  const inFolder = join(await hostPathOf(dirname(absolute)), basename(absolute));
  if (!sandbox || visibleInSandbox(dirname(inFolder), sandbox.workspace, [...sandbox.readOnlyPaths, ...installation])) return inFolder;
  return hostPathOf(absolute);
}

function sameInstall(a: readonly string[], b: readonly string[]): boolean {
  return a.length === 1 && b.length === 1 && a[0] === b[0];
}
