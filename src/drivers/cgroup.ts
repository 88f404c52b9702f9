import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { signal } from "./process-tree.js";

/**
 * A pids cgroup per live session, where the host lets sessiond make one (Linux, cgroup v1
 * `pids` controller or v2 with `pids` enabled, writable — typically when running as root or with
 * a delegated subtree). It caps the number of processes a session may have (`pids.max`), so a
 * fork bomb hits a wall even for root, whom `ulimit -u` does not bind, and it lists every process
 * the session started — daemons that left its terminal session included — so that stop can kill
 * them all. Where no cgroup can be made, sessiond falls back to `ulimit -u` and the /proc walk.
 */
export class PidsCgroup {
  private constructor(readonly path: string) {}

  /**
   * Creates `<pids root>/sessiond/<name>` with `pids.max = max` (0: no limit).
   * @returns undefined when the host has no writable pids cgroup
   */
  static create(name: string, max: number): PidsCgroup | undefined {
    for (const root of pidsRoots()) {
      try {
        const parent = join(root, "sessiond");
        mkdirSync(parent, { recursive: true });
        if (root === V2_ROOT) enableV2Pids(parent);
        const path = join(parent, name);
        mkdirSync(path, { recursive: true });
        writeFileSync(join(path, "pids.max"), max > 0 ? String(max) : "max");
        return new PidsCgroup(path);
      } catch {
        // Not this hierarchy (read-only, no pids controller…): try the next, else give up.
      }
    }
    return undefined;
  }

  /** The cgroup a previous server made for `name`, if it is still there. */
  static existing(name: string): PidsCgroup | undefined {
    for (const root of pidsRoots()) {
      const path = join(root, "sessiond", name);
      try {
        readFileSync(join(path, "cgroup.procs"));
        return new PidsCgroup(path);
      } catch {
        // not there
      }
    }
    return undefined;
  }

  /** Moves a process (and so every child it forks from now on) into the cgroup. @returns false when it could not */
  add(pid: number): boolean {
    try {
      writeFileSync(join(this.path, "cgroup.procs"), String(pid));
      return true;
    } catch {
      return false;
    }
  }

  /** The processes in the cgroup now. */
  pids(): number[] {
    try {
      return readFileSync(join(this.path, "cgroup.procs"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  }

  /** SIGKILLs every process in the cgroup until it is empty (a fork bomb forks while it is killed), then removes it. */
  async destroy(): Promise<number[]> {
    const killed = new Set<number>();
    for (let round = 0; round < 100; round++) {
      const pids = this.pids();
      if (!pids.length) break;
      for (const pid of pids) {
        killed.add(pid);
        signal(pid, "SIGKILL");
      }
      await sleep(round < 10 ? 1 : 10);
    }
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        rmdirSync(this.path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") break;
        // EBUSY until the killed processes are reaped.
        await sleep(10);
      }
    }
    return [...killed];
  }
}

const V1_ROOT = "/sys/fs/cgroup/pids";
const V2_ROOT = "/sys/fs/cgroup";

function pidsRoots(): string[] {
  const roots: string[] = [];
  try {
    readFileSync(join(V1_ROOT, "cgroup.procs"));
    roots.push(V1_ROOT);
  } catch {
    // no v1 pids hierarchy
  }
  try {
    if (readFileSync(join(V2_ROOT, "cgroup.controllers"), "utf8").split(/\s+/).includes("pids")) roots.push(V2_ROOT);
  } catch {
    // no v2 hierarchy with pids
  }
  return roots;
}

/** cgroup v2 hands a controller down only where each parent enables it for its children. */
function enableV2Pids(parent: string): void {
  writeFileSync(join(V2_ROOT, "cgroup.subtree_control"), "+pids");
  writeFileSync(join(parent, "cgroup.subtree_control"), "+pids");
}
