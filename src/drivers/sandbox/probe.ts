import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { SandboxTools } from "../driver.js";

/** Whether the sandbox can start here, and if not, what is missing, in words. */
export type SandboxCheck = { readonly ok: true; readonly tools: SandboxTools } | { readonly ok: false; readonly missing: string };

/** What the probe looks at: the host, as this process sees it (tests give their own). */
export interface SandboxHost {
  readonly platform: string;
  readonly uid: number | undefined;
  /** Folders searched for bwrap and setpriv, in order. */
  readonly programDirs: readonly string[];
}

let cached: SandboxCheck | undefined;

/**
 * Checks once per process that the sandbox can start: Linux, root (bubblewrap makes the mounts
 * and setpriv switches to the session's uid, both of which need it), bubblewrap and setpriv
 * installed, and a trial sandbox that really starts (a kernel without the namespaces fails here).
 */
export function checkSandbox(hostPath = process.env.PATH ?? ""): SandboxCheck {
  cached ??= probeSandbox({
    platform: process.platform,
    uid: process.getuid?.(),
    programDirs: [...hostPath.split(delimiter), ...SYSTEM_PROGRAM_DIRS].filter((dir) => dir.startsWith("/")),
  });
  return cached;
}

/** The check of {@link checkSandbox} on a given host, uncached. */
export function probeSandbox(host: SandboxHost): SandboxCheck {
  if (host.platform !== "linux") return { ok: false, missing: `Linux namespaces (this is ${host.platform})` };
  if (host.uid !== 0) {
    return { ok: false, missing: "root: sessiond runs each session as a uid of its own, which takes a server running as root (see docs/security.md)" };
  }
  const bwrap = findProgram("bwrap", host.programDirs);
  if (!bwrap) return { ok: false, missing: "bubblewrap (the bwrap program: apt-get install bubblewrap)" };
  const setpriv = findProgram("setpriv", host.programDirs);
  if (!setpriv) return { ok: false, missing: "setpriv (util-linux)" };
  const trial = spawnSync(bwrap, ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--ro-bind", "/", "/", "--proc", "/proc", "--", "/bin/true"], {
    env: {},
    encoding: "utf8",
    timeout: TRIAL_TIMEOUT_MS,
  });
  if (trial.status !== 0) {
    const why = (trial.stderr || trial.error?.message || `exit ${trial.status}`).trim();
    return { ok: false, missing: `namespaces for bubblewrap (a trial sandbox failed: ${why})` };
  }
  return { ok: true, tools: { bwrap, setpriv } };
}

/** Where the programs are looked for after the server's PATH. */
const SYSTEM_PROGRAM_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** A trial sandbox is a fork and an exec: seconds mean the machine is stuck, not slow. */
const TRIAL_TIMEOUT_MS = 10_000;

function findProgram(name: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}
