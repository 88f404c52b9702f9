import { readFileSync } from "node:fs";

/**
 * A sandboxed session has a PID namespace of its own: what it prints (`$!`, `ps`) are its pids,
 * not the host's. The API shows a session its own pids, so that a background job's pid from
 * `$!` and the process list agree; the server signals by host pid.
 */

/** The pid `hostPid` has in its innermost PID namespace (the NSpid line of its status), or itself when unknown. */
export function innermostPid(hostPid: number): number {
  try {
    const line = /^NSpid:\s*(.+)$/m.exec(readFileSync(`/proc/${hostPid}/status`, "latin1"))?.[1];
    const last = line?.trim().split(/\s+/).at(-1);
    return last === undefined ? hostPid : Number(last);
  } catch {
    return hostPid;
  }
}

/** Of `hostPids`, the one whose innermost pid is `sessionPid`. */
export function hostPidOf(sessionPid: number, hostPids: readonly number[]): number | undefined {
  return hostPids.find((pid) => innermostPid(pid) === sessionPid);
}
