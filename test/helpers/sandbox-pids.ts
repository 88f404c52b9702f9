import { readFileSync } from "node:fs";
import type { Session } from "../../src/core/index.js";
import { listProcesses } from "../../src/drivers/process-tree.js";
import { innermostPid } from "../../src/drivers/sandbox/index.js";

/**
 * The host pid of a process a session printed (`$!`, `$$`): inside the sandbox those are its PID
 * namespace's, so the host pid is found among the session's processes — its cgroup's, or else
 * those of its uid (which other servers on this machine may reuse).
 */
export function hostPid(session: Pick<Session, "runtime_metadata">, printed: number): number {
  const { sandbox_uid: uid, cgroup } = session.runtime_metadata;
  if (typeof uid !== "number") return printed;
  const candidates = typeof cgroup === "string" ? cgroupProcesses(cgroup) : processesOfUid(uid);
  return candidates.find((pid) => innermostPid(pid) === printed) ?? -1;
}

/**
 * A uid base no other server on this machine uses: tests that look for a session's leftovers by
 * uid run beside other tests' servers, whose sessions take uids from the default base.
 */
export function uniqueUidBase(): number {
  return 1_000_000 + Math.floor(Math.random() * 3_000_000_000);
}

function cgroupProcesses(cgroup: string): number[] {
  try {
    return readFileSync(`${cgroup}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Live processes running as `uid`, from the host's /proc. */
export function processesOfUid(uid: number): number[] {
  return listProcesses()
    .filter((p) => p.state !== "Z" && p.state !== "X")
    .filter((p) => {
      try {
        return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))?.[1] === String(uid);
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}
