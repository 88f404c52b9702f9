import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

/**
 * Who owns a data dir, as its owner wrote it (the pid file): read by client commands (`server
 * status`, `server stop`), by a non-owner naming the process it waits on, and by a would-be owner
 * whose lock file was removed by hand.
 */
export interface OwnerRecord {
  pid: number;
  /** A `sessiond serve`, or a program using the embedded API. */
  owner?: "server" | "embedded";
  /** The owner process's start time in clock ticks since boot (Linux), so a reused pid is not taken for it. */
  pid_started?: number;
  /** The store it writes: a non-owner reads a SQLite home's file itself. */
  store?: "sqlite" | "postgres";
  /** Its name as a node of a cluster (PostgreSQL store): what answers carry in `x-sessiond-node`. */
  node?: string;
  /** The command line, for a person looking for the process. */
  command?: string;
  host?: string;
  port?: number;
  socket?: string;
  started_at?: string;
}

/** The record, or undefined when it is missing or unreadable. */
export function readOwnerRecord(path: string): OwnerRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, "utf8")) as OwnerRecord;
    return Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the record whole (a reader never sees half of it): a new file renamed over the old. */
export function writeOwnerRecord(path: string, record: OwnerRecord): void {
  const next = `${path}.${process.pid}.tmp`;
  writeFileSync(next, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  renameSync(next, path);
}

/** Removes the record if it is still this process's (a newer owner may have replaced it). */
export function removeOwnerRecord(path: string): void {
  if (readOwnerRecord(path)?.pid === process.pid) rmSync(path, { force: true });
}

/** This process's record fields that identify it. */
export function selfIdentity(): Pick<OwnerRecord, "pid" | "pid_started" | "command"> {
  const started = processStat(process.pid)?.startTicks;
  return {
    pid: process.pid,
    ...(started !== undefined ? { pid_started: started } : {}),
    command: process.argv.slice(1).join(" ").slice(0, 300),
  };
}

/**
 * Whether the process a record names still runs: its pid exists, is not a zombie (a killed owner
 * whose parent has not reaped it yet holds no lock), and, where known, started when the record says.
 */
export function ownerAlive(record: Pick<OwnerRecord, "pid" | "pid_started">): boolean {
  if (!isAlive(record.pid)) return false;
  const stat = processStat(record.pid);
  if (!stat) return true; // Not Linux: the pid is all there is to go by.
  if (stat.state === "Z" || stat.state === "X") return false;
  return record.pid_started === undefined || stat.startTicks === record.pid_started;
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A process's state (field 3 of /proc/<pid>/stat) and start time in clock ticks since boot (field
 * 22), read after the parenthesised command, which may hold spaces; undefined off Linux.
 */
function processStat(pid: number): { state: string; startTicks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]);
    return Number.isFinite(startTicks) ? { state: fields[0]!, startTicks } : undefined;
  } catch {
    return undefined;
  }
}
