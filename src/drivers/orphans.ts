import { type Config, type Session, isSessiondError } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import type { DriverLog } from "./log.js";
import { EXEC_KINDS } from "./modes.js";
import { SessionCgroup } from "./sandbox/index.js";
import { readStat, terminateSession } from "./process-tree.js";
import { SERVER_GONE, nodeGoneReason } from "./server-gone.js";

/**
 * After a server restart: every exec session the store still holds as active or paused but
 * that has no process here (`isLive` false) becomes `crashed` (reason: sessiond restarted), and
 * what its old process left running is killed. They recover like any crash.
 *
 * With several nodes (docs/scale-out.md) only the sessions whose owner node's lease ran out are
 * orphans (reason: that node stopped answering); marking one claims it for this node, and a
 * session another node took first is left to it.
 * @returns the sessions marked
 */
export async function markOrphansCrashed(
  manager: SessionManager,
  config: Pick<Config, "stopGraceMs">,
  isLive: (sessionId: string) => boolean,
  log: DriverLog,
  /** The registered drivers' kinds besides the built-in ones (a mode whose driver is gone is not looked for). */
  kinds: readonly string[] = [],
  /** True for a session that has no process by design (hibernated: it wakes on its next exec), which is then no orphan. */
  asleep: (session: Session) => boolean = () => false,
): Promise<Session[]> {
  const kind = [...new Set([...EXEC_KINDS, ...kinds])];
  const orphans = (await manager.orphaned(kind, ORPHANS_PER_SWEEP)) ?? (await localOrphans(manager, kind, isLive));
  const marked: Session[] = [];
  for (const { session_id, node_name } of orphans) {
    if (isLive(session_id)) continue;
    const found = await manager.find(session_id);
    if (found && asleep(found)) continue;
    const crashed = await crashOrphan(manager, session_id, node_name);
    if (!crashed) continue;
    // Only once the crash is this node's: a session a live node still runs is never touched.
    await killLeftovers(crashed, config, log);
    marked.push(crashed);
  }
  return marked;
}

/**
 * Marks a session whose process went away with its server crashed: reason `sessiond restarted`,
 * or the node that stopped answering when `nodeName` names it.
 * @returns the crashed session; undefined when someone else got there first (it is no longer
 *   active or paused, deleted, or another node holds it)
 */
export async function crashOrphan(manager: SessionManager, sessionId: string, nodeName: string | null): Promise<Session | undefined> {
  try {
    return await manager.crash(sessionId, nodeName === null ? SERVER_GONE.restarted : nodeGoneReason(nodeName));
  } catch (err) {
    if (isSessiondError(err, "invalid_transition") || isSessiondError(err, "not_found") || isSessiondError(err, "owned_elsewhere")) return undefined;
    throw err;
  }
}

/** Sessions marked per pass with several nodes; the next pass takes the rest. */
const ORPHANS_PER_SWEEP = 1000;

/** One node: every exec session active or paused in the store without a process here. */
async function localOrphans(manager: SessionManager, kind: string[], isLive: (sessionId: string) => boolean): Promise<{ session_id: string; node_name: null }[]> {
  const orphans: { session_id: string; node_name: null }[] = [];
  let cursor: string | undefined;
  do {
    const page = await manager.list({ status: ["active", "paused"], kind }, { limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const s of page.items) if (!isLive(s.id)) orphans.push({ session_id: s.id, node_name: null });
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return orphans;
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
