import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { signal } from "../process-tree.js";

/** What a session's cgroup caps; 0 leaves a limit off. */
export interface CgroupLimits {
  /** `pids.max`: a fork bomb hits a wall, even for root, whom `ulimit -u` does not bind. */
  readonly maxProcesses: number;
  /** `memory.max` (v2) / `memory.limit_in_bytes` (v1); swap is capped with it where the host accounts swap. */
  readonly memoryBytes: number;
  /** CFS quota in cores (`cpu.max` / `cpu.cfs_quota_us`). */
  readonly cpus: number;
  /** The memory of every session together: the limit of the parent `sessiond` cgroup. 0 for none. */
  readonly totalMemoryBytes?: number;
}

const CGROUP_ROOT = "/sys/fs/cgroup";
/** cgroup v1 controllers sessiond uses, each its own hierarchy; `pids` first: it lists the members. */
const V1_CONTROLLERS = ["pids", "memory", "cpu"] as const;
const CFS_PERIOD_US = 100_000;

/**
 * The cgroup of one live session, on cgroup v2 (one folder) or v1 (one folder per controller,
 * as this machine mounts them), wherever the host lets sessiond make one (root, or a delegated
 * subtree). It caps processes, memory and CPU, lists every process the session started —
 * daemons that left its terminal or its sandbox's init included — so that stop kills them all,
 * and counts the kernel's OOM kills, so that a session killed over its memory limit says so.
 *
 * The launcher joins it before it starts anything (see launch.ts): a process added after its
 * start could already have forked children outside.
 */
export class SessionCgroup {
  private constructor(
    /** One folder per hierarchy; the first lists the members. */
    private readonly dirs: readonly string[],
    private readonly version: 1 | 2,
  ) {}

  /**
   * Creates `<root>/sessiond/<name>` with `limits`.
   * @returns undefined when the host has no writable cgroup with the pids controller
   */
  static create(name: string, limits: CgroupLimits): SessionCgroup | undefined {
    if (hasV2Controller("pids")) {
      try {
        const parent = join(CGROUP_ROOT, "sessiond");
        mkdirSync(parent, { recursive: true });
        const controllers = ["pids", "memory", "cpu"].filter(hasV2Controller);
        const enable = controllers.map((c) => `+${c}`).join(" ");
        writeFileSync(join(CGROUP_ROOT, "cgroup.subtree_control"), enable);
        writeFileSync(join(parent, "cgroup.subtree_control"), enable);
        if (controllers.includes("memory")) writeOptional(parent, "memory.max", limitText(pageAligned(limits.totalMemoryBytes ?? 0)));
        const dir = join(parent, name);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "pids.max"), limitText(limits.maxProcesses));
        // A host without the memory or cpu controller still gets the others' limits.
        if (controllers.includes("memory") && writeOptional(dir, "memory.max", limitText(limits.memoryBytes)) && limits.memoryBytes > 0) {
          writeOptional(dir, "memory.swap.max", "0");
        }
        if (controllers.includes("cpu")) writeOptional(dir, "cpu.max", limits.cpus > 0 ? `${cpuQuota(limits.cpus)} ${CFS_PERIOD_US}` : `max ${CFS_PERIOD_US}`);
        return new SessionCgroup([dir], 2);
      } catch {
        // Not writable here: try v1.
      }
    }
    const dirs: string[] = [];
    for (const controller of V1_CONTROLLERS) {
      const root = join(CGROUP_ROOT, controller);
      if (!readable(join(root, "cgroup.procs"))) {
        if (controller === "pids") return undefined;
        continue;
      }
      try {
        const parent = join(root, "sessiond");
        mkdirSync(parent, { recursive: true });
        if (controller === "memory") {
          // Children count against their parent only in a hierarchy (always so on recent kernels; settable only while empty).
          writeOptional(parent, "memory.use_hierarchy", "1");
          writeOptional(parent, "memory.limit_in_bytes", limits.totalMemoryBytes ? String(pageAligned(limits.totalMemoryBytes)) : "-1");
        }
        const dir = join(parent, name);
        mkdirSync(dir, { recursive: true });
        if (controller === "pids") {
          writeFileSync(join(dir, "pids.max"), limitText(limits.maxProcesses));
        } else if (controller === "memory") {
          // -1 is v1's "no limit"; memsw (memory + swap) exists only where swap is accounted.
          const bytes = limits.memoryBytes > 0 ? String(limits.memoryBytes) : "-1";
          writeFileSync(join(dir, "memory.limit_in_bytes"), bytes);
          writeOptional(dir, "memory.memsw.limit_in_bytes", bytes);
        } else {
          writeFileSync(join(dir, "cpu.cfs_period_us"), String(CFS_PERIOD_US));
          writeFileSync(join(dir, "cpu.cfs_quota_us"), limits.cpus > 0 ? String(cpuQuota(limits.cpus)) : "-1");
        }
        dirs.push(dir);
      } catch {
        if (controller === "pids") return undefined;
        // This controller's limit is not applied; the others still are.
      }
    }
    return new SessionCgroup(dirs, 1);
  }

  /** The cgroup a previous server made for `name`, if it is still there (its limits no longer matter). */
  static existing(name: string): SessionCgroup | undefined {
    const v2 = join(CGROUP_ROOT, "sessiond", name);
    if (readable(join(v2, "cgroup.procs")) && readable(join(v2, "pids.max"))) return new SessionCgroup([v2], 2);
    const dirs = V1_CONTROLLERS.map((c) => join(CGROUP_ROOT, c, "sessiond", name)).filter((dir) => readable(join(dir, "cgroup.procs")));
    return dirs.length ? new SessionCgroup(dirs, 1) : undefined;
  }

  /** The folder that lists the members (kept in runtime_metadata). */
  get path(): string {
    return this.dirs[0]!;
  }

  /** The `cgroup.procs` file of every hierarchy: a process joins the session by writing its pid to each. */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, "cgroup.procs"));
  }

  /** Moves a process (and so every child it forks from now on) into the cgroup. @returns false when it could not */
  add(pid: number): boolean {
    try {
      for (const file of this.procsFiles) writeFileSync(file, String(pid));
      return true;
    } catch {
      return false;
    }
  }

  /** The processes in the cgroup now. */
  pids(): number[] {
    try {
      return readFileSync(this.procsFiles[0]!, "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** How many processes the kernel's OOM killer has killed in the cgroup (over its memory limit). */
  oomKills(): number {
    const file = this.version === 2 ? join(this.dirs[0]!, "memory.events") : this.dirs.map((d) => join(d, "memory.oom_control")).find(readable);
    if (!file) return 0;
    try {
      const match = /^oom_kill (\d+)$/m.exec(readFileSync(file, "utf8"));
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
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
    for (const dir of this.dirs) await removeWhenEmpty(dir);
    return [...killed];
  }
}

async function removeWhenEmpty(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      // EBUSY until the killed processes are reaped.
      await sleep(10);
    }
  }
}

/** The kernel keeps memory limits in whole pages: a limit written so reads back as written. */
function pageAligned(bytes: number): number {
  return bytes - (bytes % PAGE_BYTES);
}

const PAGE_BYTES = 4096;

function limitText(value: number): string {
  return value > 0 ? String(value) : "max";
}

function cpuQuota(cpus: number): number {
  // The kernel refuses a quota under 1 ms.
  return Math.max(1000, Math.round(cpus * CFS_PERIOD_US));
}

function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a limit file the host may lack. @returns whether it was written */
function writeOptional(dir: string, file: string, value: string): boolean {
  try {
    writeFileSync(join(dir, file), value);
    return true;
  } catch {
    return false;
  }
}

/** Whether the v2 hierarchy at the cgroup root offers `controller` (v1 hosts have none there). */
function hasV2Controller(controller: string): boolean {
  try {
    return readFileSync(join(CGROUP_ROOT, "cgroup.controllers"), "utf8").split(/\s+/).includes(controller);
  } catch {
    return false;
  }
}
