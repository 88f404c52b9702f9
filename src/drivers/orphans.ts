import { type Config, type Session, isSessiondError } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import type { DriverLog } from "./log.js";
import { EXEC_KINDS } from "./modes.js";
import { SessionCgroup } from "./sandbox/index.js";
import { readStat, terminateSession } from "./process-tree.js";
import { SERVER_GONE } from "./server-gone.js";

/**
 * After a server restart: every exec session the store still holds as active or paused but
 * that has no process here (`isLive` false) becomes `crashed` (reason: sessiond restarted), and
 * what its old process left running is killed. They recover like any crash.
 * @returns the sessions marked
 */
export async function markOrphansCrashed(
  manager: SessionManager,
  config: Pick<Config, "stopGraceMs">,
  isLive: (sessionId: string) => boolean,
  log: DriverLog,
  /** The registered drivers' kinds besides the built-in ones (a mode whose driver is gone is not looked for). */
  kinds: readonly string[] = [],
): Promise<Session[]> {
  const orphans: Session[] = [];
  const kind = [...new Set([...EXEC_KINDS, ...kinds])];
  let cursor: string | undefined;
  do {
    const page = await manager.list({ status: ["active", "paused"], kind }, { limit: 1000, ...(cursor ? { cursor } : {}) });
    orphans.push(...page.items.filter((s) => !isLive(s.id)));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  const marked: Session[] = [];
  for (const session of orphans) {
    await killLeftovers(session, config, log);
    try {
      marked.push(await manager.crash(session.id, SERVER_GONE.restarted));
    } catch (err) {
      if (!isSessiondError(err, "invalid_transition") && !isSessiondError(err, "not_found")) throw err;
    }
  }
  return marked;
}

/**
 * Kills what a previous server's process of this session left running: its terminal session's
 * members (jobs that ignored the SIGHUP of the closing terminal). Only when the recorded pid is
 * gone or still has the recorded start time, so that a reused pid never pulls in a stranger.
 */
async function killLeftovers(session: Session, config: Pick<Config, "stopGraceMs">, log: DriverLog): Promise<void> {
  const fromCgroup = (await SessionCgroup.existing(session.id)?.destroy()) ?? [];
  if (fromCgroup.length) log.warn({ session: session.id, pids: fromCgroup }, "killed processes left by a previous server");
  const { pid, pid_starttime: since } = session.runtime_metadata;
  if (session.server !== "local" || typeof pid !== "number" || typeof since !== "number") return;
  const stat = readStat(pid);
  if (stat && stat.starttime !== since) return;
  const killed = await terminateSession(pid, config.stopGraceMs, { leaderSignal: "SIGKILL", since });
  if (killed.length) log.warn({ session: session.id, pids: killed }, "killed processes left by a previous server");
}
