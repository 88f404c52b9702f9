import type { Session } from "../../core/index.js";
import type { TerminalTap } from "../../drivers/index.js";
import type { EventBus } from "../../engine/index.js";
import { type ShareLimits, TerminalShare } from "./terminal-share.js";

/** The part of LiveSessions attach needs. */
export interface TerminalSource {
  /** @throws not_a_terminal / session_not_active (409) */
  terminal(ref: string): Promise<TerminalTap>;
  resize(ref: string, cols: number, rows: number): Promise<void>;
}

const LIVE_STATUSES: readonly string[] = ["active", "paused"];

/**
 * The shared terminals of this server, one per live shell process. A share is opened as soon as
 * a shell's process is up (so a late joiner's replay holds what happened before anyone attached)
 * or at the first attach, and ended — its clients closed with 1000 `session_stopped` — when the
 * session stops, crashes or is deleted. A recovered session has a new process, hence a new share.
 */
export class AttachHub {
  private readonly shares = new Map<string, TerminalShare>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly terminals: TerminalSource,
    bus: EventBus,
    private readonly limits: ShareLimits,
  ) {
    this.unsubscribe = bus.subscribe((change) => {
      if (change.type === "session.deleted") return this.endShare(change.session.id, "session_deleted");
      if (change.type !== "session.updated") return;
      const s = change.session;
      if (!LIVE_STATUSES.includes(s.status)) return this.endShare(s.id, "session_stopped");
      // The process (re)started and recorded its pid: open its share now, for the replay.
      if (s.kind === "shell" && change.updates.includes("runtime_metadata")) void this.share(s).catch(() => {});
    });
  }

  /** The share of a live shell session's current process. @throws not_a_terminal / session_not_active (409) */
  async share(session: Session): Promise<TerminalShare> {
    const tap = await this.terminals.terminal(session.id);
    const existing = this.shares.get(session.id);
    if (existing?.tap === tap) return existing;
    existing?.end(1000, "session_restarted");
    const share = new TerminalShare(tap, this.limits, (cols, rows) => this.terminals.resize(session.id, cols, rows));
    this.shares.set(session.id, share);
    return share;
  }

  /** Ends every share (server shutdown). */
  close(code: number, reason: string): void {
    this.unsubscribe();
    for (const share of this.shares.values()) share.end(code, reason);
    this.shares.clear();
  }

  private endShare(sessionId: string, reason: string): void {
    const share = this.shares.get(sessionId);
    if (!share) return;
    this.shares.delete(sessionId);
    share.end(1000, reason);
  }
}
