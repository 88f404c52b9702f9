import { readFileSync, readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Linux process-tree helpers for the local target, read from /proc: who belongs to a session's
 * shell (its terminal session, its process groups, its descendants) and how to end them all.
 */

/** The fields of /proc/<pid>/stat sessiond uses. */
export interface ProcStat {
  readonly pid: number;
  /** R, S, D, Z (zombie), T… */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  /** The session id: the pid of the session leader (our shell, which node-pty starts with setsid). */
  readonly session: number;
  /** The foreground process group of the controlling terminal. */
  readonly tpgid: number;
  /** Clock ticks after boot when the process started: tells a reused pid from the original. */
  readonly starttime: number;
}

/** /proc/<pid>/stat parsed, or undefined when there is no such process. */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name sits in parentheses and may itself hold spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    state: fields[0] ?? "?",
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    tpgid: Number(fields[5]),
    starttime: Number(fields[19]),
  };
}

/** Every process visible in /proc, or those whose pid `wanted` accepts (reading a stat is the cost). */
export function listProcesses(wanted?: (pid: number) => boolean): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    const pid = Number(entry);
    if (wanted && !wanted(pid)) continue;
    const stat = readStat(pid);
    if (stat) stats.push(stat);
  }
  return stats;
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

/**
 * The live processes that belong to a session leader: those in its terminal session (which
 * includes background jobs in their own process groups), plus its descendants that left the
 * session (setsid). `since` is the leader's start time: processes that started before it are
 * ignored, and a process now holding the leader's pid that started at another time is a stranger
 * that reused it — then nothing of the leader is left (Linux frees a pid only once no process
 * has it as its session or group id either, so no member of the old session can remain).
 */
export function sessionMembers(leader: number, since?: number): number[] {
  const all = listProcesses().filter((p) => p.state !== "Z" && p.state !== "X" && (since === undefined || p.starttime >= since));
  if (since !== undefined && all.some((p) => p.pid === leader && p.starttime !== since)) return [];
  // A leader gone whose start is not known: the processes of session `leader` may be a new
  // session's, its leader a later process that took the pid (and gone too), and on a host with
  // pid_max 32768 a busy machine reuses pids within seconds. Nothing is taken for its then.
  if (since === undefined && !all.some((p) => p.pid === leader)) return [];
  const members = new Set<number>();
  for (const p of all) if (p.session === leader || p.pid === leader) members.add(p.pid);
  const children = new Map<number, number[]>();
  for (const p of all) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const queue = [...members];
  while (queue.length) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (!members.has(child)) {
        members.add(child);
        queue.push(child);
      }
    }
  }
  return [...members];
}

/** Whether `pid` is still the process that started at `starttime` (undefined: not known, taken for yes). */
export function stillRunning(pid: number, starttime: number | undefined): boolean {
  const stat = readStat(pid);
  return stat !== undefined && (starttime === undefined || stat.starttime === starttime);
}

/** Sends a signal, ignoring processes that are already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: gone already; EPERM: not ours, nothing to do.
  }
}

/**
 * Ends a session leader and everything that belongs to it: SIGTERM to every member (and to each
 * member's process group), `leaderSignal` to the leader itself (an interactive bash ignores
 * SIGTERM, so the shell gets SIGHUP, which it also forwards to its jobs), then SIGKILL to whatever
 * is left after `graceMs`.
 * @returns the pids that were signalled
 */
export async function terminateSession(
  leader: number,
  graceMs: number,
  options: { leaderSignal?: NodeJS.Signals; since?: number; pollMs?: number } = {},
): Promise<number[]> {
  const poll = options.pollMs ?? 10;
  const signalled = new Set<number>();
  const members = sessionMembers(leader, options.since);
  for (const pid of members) {
    signalled.add(pid);
    if (pid === leader) {
      signal(pid, options.leaderSignal ?? "SIGTERM");
      signal(pid, "SIGCONT");
    } else {
      signal(pid, "SIGTERM");
      signal(pid, "SIGCONT");
    }
  }
  const deadline = Date.now() + graceMs;
  let alive = members.filter(isAlive);
  while (alive.length && Date.now() < deadline) {
    await sleep(poll);
    alive = alive.filter(isAlive);
  }
  // Members may have forked during the grace period: look again, and kill whatever remains.
  for (let round = 0; round < 3; round++) {
    const left = sessionMembers(leader, options.since).filter((pid) => pid !== process.pid);
    if (!left.length) break;
    for (const pid of left) {
      signalled.add(pid);
      signal(pid, "SIGKILL");
    }
    await sleep(poll);
  }
  return [...signalled];
}
