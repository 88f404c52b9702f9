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

/** True for a crash reason that says the server went away, not the session. */
export function isServerGoneReason(reason: unknown): boolean {
  return reason === SERVER_GONE.shutDown || reason === SERVER_GONE.restarted;
}
