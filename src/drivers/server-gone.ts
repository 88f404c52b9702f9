/**
 * The crash reasons a live session gets when its process went away with the server rather than
 * by anything the session did: config `autoRecover` brings back exactly the sessions whose latest
 * crash has one of these (docs/exec-sessions.md#automatic-recovery).
 */
export const SERVER_GONE = {
  /** The server stopped every live session as it shut down (`LiveSessions.close`). */
  shutDown: "sessiond shut down",
  /** A server found the session active or paused with no process: the previous server died (`markOrphansCrashed`). */
  restarted: "sessiond restarted; the process is gone",
} as const;

/** Several nodes: the session's node stopped renewing its lease, and another node found it (`markOrphansCrashed`). */
export function nodeGoneReason(nodeName: string): string {
  return `${NODE_GONE_PREFIX}${nodeName}${NODE_GONE_SUFFIX}`;
}

const NODE_GONE_PREFIX = "node ";
const NODE_GONE_SUFFIX = " stopped answering (its lease ran out); the process is gone";

/** True for a crash reason that says the server went away, not the session. */
export function isServerGoneReason(reason: unknown): boolean {
  if (reason === SERVER_GONE.shutDown || reason === SERVER_GONE.restarted) return true;
  return typeof reason === "string" && reason.startsWith(NODE_GONE_PREFIX) && reason.endsWith(NODE_GONE_SUFFIX);
}
