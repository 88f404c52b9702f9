import { readFileSync } from "node:fs";
import type { Session } from "../../src/core/index.js";
import { listProcesses } from "../../src/drivers/process-tree.js";
import { innermostPid } from "../../src/drivers/sandbox/index.js";

/**
 * The host pid of a process a session printed (`$!`, `$$`): inside the sandbox those are its PID
 * namespace's, so the host pid is found among the processes of the session's uid.
 */
export function hostPid(session: Pick<Session, "runtime_metadata">, printed: number): number {
  const uid = session.runtime_metadata.sandbox_uid;
  if (typeof uid !== "number") return printed;
  return processesOfUid(uid).find((pid) => innermostPid(pid) === printed) ?? -1;
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
