import { type Config, INTERPRETER_KINDS, type JsonObject, type Session, SessiondError, errors } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import type { LiveProcess } from "../driver.js";
import type { LiveState } from "../live-api.js";
import type { DriverLog } from "../log.js";
import { type Cell, type CellPlan, cellsAt, planOf } from "./cells.js";
import { type HibernatedMark, hibernatedMark, withoutHibernation } from "./hibernation.js";
import { type RebuildReason, type RebuildReport, emptyReport, replayOnProcess } from "./rebuild.js";
import { UNDO_FILES_DEPTH, type UndoSnapshots, undoKey } from "./workspace-snapshots.js";

export { INTERPRETER_KINDS };
/**
 * What a fork takes of its source's runtime_metadata: how its process starts, and the exported
 * environment (a shell's; an interpreter replays its own). Not the cwd as it is: it names the
 * source's workspace (see forkCwd).
 */
const FORK_KEEPS = ["mode_options", "exec_policy", "undo_files", "network", "cols", "rows", "env"] as const;
/** The kinds a session of may hibernate: a fresh process brings back what they keep. */
const HIBERNATING_KINDS: ReadonlySet<string> = new Set(["python", "typescript", "shell", "llm"]);

/** What LiveEnvironment needs of LiveSessions: a narrow view of one session's process, and its start and stop. */
export interface EnvironmentHost {
  readonly manager: SessionManager;
  readonly config: Config;
  readonly log: DriverLog;
  /** The session's process on this server, or undefined when it has none. */
  view(sessionId: string): ProcessView | undefined;
  /** Stops the session's process without ending the session (nothing recorded; what it holds in memory kept). */
  stopProcess(sessionId: string): Promise<void>;
  /**
   * Starts the session's process again as a recovery does (its saved cwd and environment, or
   * `cwd`), running `prelude` on it before it takes an exec (execs sent meanwhile wait).
   * @throws rate_limited past maxLiveSessions; spawn_failed (the session is then crashed)
   */
  startProcess(session: Session, options: { cwd?: string; prelude?: (proc: LiveProcess) => Promise<void> }): Promise<Session>;
  /** The session's workspace folder. */
  workspace(session: Session): Promise<string>;
}

/** What the coordinator sees of a live process. */
export interface ProcessView {
  readonly state: LiveState;
  /** An exec runs or waits. */
  readonly busy: boolean;
  readonly paused: boolean;
  /** Background jobs run (a shell's `cmd &`): hibernating would kill them. */
  readonly hasJobs: boolean;
  readonly idleMs: number;
}

/** A hibernated session as the live list shows it. */
export interface SleepingSession {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly server: string;
  readonly mark: HibernatedMark;
  readonly exec_policy: unknown;
  readonly cwd: string | null;
}

function sleepingOf(session: Session, mark: HibernatedMark): SleepingSession {
  const cwd = session.runtime_metadata.cwd;
  return {
    id: session.id,
    name: session.name,
    kind: session.kind,
    server: session.server,
    mark,
    exec_policy: session.runtime_metadata.exec_policy,
    cwd: typeof cwd === "string" && session.kind !== "llm" ? cwd : null,
  };
}

/** What a wake did: in the answer of the exec (or attach) that woke the session, and its `wake` event. */
export interface WakeReport extends RebuildReport {
  readonly hibernated_at: string;
  /** How long it slept, in milliseconds. */
  readonly slept_ms: number;
}

/** What an undo did. */
export interface UndoReport {
  /** The seq of the exec taken back. */
  readonly seq: number;
  readonly input: string;
  /** `restored`: the workspace is as it was before that exec; otherwise why it was left as it is. */
  readonly files: "restored" | "not_kept" | "off";
  /** The rebuild of the interpreter; null when the session is hibernated (its wake rebuilds it). */
  readonly rebuild: RebuildReport | null;
}

/** The outcome of a change made around a rebuild (a restore). */
export interface Rebuilt<T> {
  readonly value: T;
  /** Null when no interpreter ran (a shell, an llm session, or one hibernated: its wake replays the new history). */
  readonly rebuild: RebuildReport | null;
}

/**
 * The environment of live sessions beyond one exec (docs/checkpoints.md): rebuilding an
 * interpreter at another point of its history (restore, undo, fork), hibernating an idle session
 * (its process stopped, nothing held) and waking it on its next use. One operation at a time per
 * session: execs and attaches sent meanwhile wait for it.
 *
 * @example
 * const env = new LiveEnvironment(host, snapshots);
 * await env.hibernate("build", "request");
 * const woke = await env.wakeFor(await manager.get("build")); // the next exec's `woke`
 */
export class LiveEnvironment {
  /** The operation in progress per session (rebuild, hibernate, wake). */
  private readonly transitions = new Map<string, Promise<unknown>>();
  /** Wakes in progress: every exec that waits for one says it woke the session. */
  private readonly waking = new Map<string, Promise<WakeReport>>();
  /** Hibernated sessions known to this server, for the live list. */
  private readonly sleeping = new Map<string, SleepingSession>();

  /** Per session, the keys of the undo snapshots held, oldest first. */
  private readonly undoKeys = new Map<string, string[]>();

  constructor(
    private readonly host: EnvironmentHost,
    private readonly snapshots?: UndoSnapshots,
  ) {}

  /** The operation in progress on the session, if any (execs wait for it). */
  pending(sessionId: string): Promise<unknown> | undefined {
    return this.transitions.get(sessionId);
  }

  // ---- hibernation ------------------------------------------------------------------------

  /**
   * Stops the process of an idle (or paused) session and marks it hibernated: no process, no
   * terminal held; its next exec or attach wakes it. A `hibernate` event records it.
   * @throws session_not_active (409) unless it has a live process here; conflict (409) while an exec runs or waits, or for a kind that cannot sleep
   */
  async hibernate(ref: string, reason: "idle" | "request"): Promise<Session> {
    const session = await this.host.manager.get(ref);
    return this.exclusive(session.id, async () => {
      const view = this.host.view(session.id);
      const current = await this.host.manager.get(session.id);
      if (current.status !== "active" && current.status !== "paused") {
        throw new SessiondError("session_not_active", { action: "hibernate", ref: current.name, status: current.status, hint: "only an active or paused session can hibernate" });
      }
      if (hibernatedMark(current)) return current;
      if (!view || view.state !== "live") throw new SessiondError("session_not_active", { action: "hibernate", ref: current.name, status: view?.state ?? current.status, hint: "only a session with a live process can hibernate" });
      if (!HIBERNATING_KINDS.has(current.kind)) throw errors.conflict(`${current.kind} sessions cannot hibernate`, "kind");
      if (view.busy) throw errors.conflict(`session ${current.name} is running an exec; hibernate it once it is idle`);
      if (current.server !== "local") throw errors.conflict(`session ${current.name} runs on ${current.server}; only local sessions hibernate`, "server");
      return this.sleep(current, reason, view);
    });
  }

  /** Puts a session whose process is being stopped to sleep: the process stopped, then the mark and the event. */
  private async sleep(session: Session, reason: string, view: ProcessView): Promise<Session> {
    const cells = INTERPRETER_KINDS.has(session.kind) ? (await cellsAt(this.host.manager, session.id)).length : 0;
    await this.host.stopProcess(session.id);
    const mark: HibernatedMark = { at: new Date().toISOString(), seq: session.last_seq, cells, reason, paused: view.paused };
    const latest = await this.host.manager.get(session.id);
    const { pid: _pid, ...meta } = latest.runtime_metadata;
    const updated = await this.host.manager.update(session.id, { runtime_metadata: { ...meta, hibernated: mark as unknown as JsonObject } });
    await this.host.manager.appendEvent(session.id, "hibernate", { reason, cells, idle_ms: Math.round(view.idleMs), paused: view.paused });
    this.sleeping.set(session.id, sleepingOf(updated, mark));
    this.host.log.info({ session: session.id, reason }, "live session hibernated");
    return updated;
  }

  /** Hibernates every idle session past config hibernateAfterMs (the reaper's pass). */
  async hibernateIdle(candidates: readonly { sessionId: string; view: ProcessView; kind: string }[]): Promise<void> {
    const after = this.host.config.hibernateAfterMs;
    if (after <= 0) return;
    for (const { sessionId, view, kind } of candidates) {
      if (view.state !== "live" || view.busy || view.paused || view.hasJobs || view.idleMs < after || !HIBERNATING_KINDS.has(kind)) continue;
      if (this.transitions.has(sessionId)) continue;
      await this.hibernate(sessionId, "idle").catch((err: unknown) => this.host.log.warn({ err, session: sessionId }, "could not hibernate an idle session"));
    }
  }

  /**
   * Wakes the session when it is hibernated and active (the exec or attach that needs it waits).
   * @returns what the wake did, or undefined when the session was not hibernated
   */
  async wakeFor(session: Session): Promise<WakeReport | undefined> {
    const inProgress = this.waking.get(session.id);
    if (inProgress) return inProgress;
    if (!hibernatedMark(session) || session.status !== "active") return undefined;
    return this.wake(session);
  }

  /**
   * Starts a hibernated session's process again and rebuilds what it kept (an interpreter's
   * cells replayed; a shell's cwd and environment, as a recovery). A `wake` event records it.
   */
  wake(session: Session, reason: RebuildReason = "wake"): Promise<WakeReport> {
    const existing = this.waking.get(session.id);
    if (existing) return existing;
    const waking = this.exclusive(session.id, async () => {
      const current = await this.host.manager.get(session.id);
      const mark = hibernatedMark(current);
      if (!mark) throw errors.conflict(`session ${current.name} is not hibernated`);
      const report = await this.startRebuilt(current, reason);
      const slept = Math.max(0, Date.now() - Date.parse(mark.at));
      const woke: WakeReport = { ...report, hibernated_at: mark.at, slept_ms: slept };
      this.sleeping.delete(current.id);
      await this.host.manager.appendEvent(current.id, "wake", { ...woke } as unknown as JsonObject);
      // A fork's start is answered with the session: its runtime_metadata says what was rebuilt.
      if (reason !== "wake") await this.noteRebuild(current.id, report);
      return woke;
    }).finally(() => this.waking.delete(session.id));
    this.waking.set(session.id, waking);
    return waking;
  }

  /**
   * Gives a session forked from a live one its own process: the source's start options, and (a
   * python or typescript one) its interpreter rebuilt from the checkpoint's cells. It is marked
   * hibernated first, so that when no process can start now (maxLiveSessions) it starts on its
   * first exec instead.
   * @returns what the start rebuilt, or the error that left it hibernated
   */
  async adoptFork(source: Session, child: Session): Promise<{ rebuild: WakeReport | null; error?: string }> {
    const kept: JsonObject = {};
    for (const name of FORK_KEEPS) if (source.runtime_metadata[name] !== undefined) kept[name] = source.runtime_metadata[name];
    const mark: HibernatedMark = { at: new Date().toISOString(), seq: child.last_seq, cells: 0, reason: "fork", paused: false };
    // It starts in the same folder of its own workspace (with its environment: a restart takes
    // both or neither); from outside the source's workspace (its own /tmp, say), at its top.
    if (kept.env !== undefined) kept.cwd = forkCwd(source.runtime_metadata.cwd, await this.host.workspace(source), await this.host.workspace(child));
    const asleep = await this.host.manager.update(child.id, { runtime_metadata: { ...child.runtime_metadata, ...kept, hibernated: mark as unknown as JsonObject } });
    this.noteHibernated(asleep);
    try {
      return { rebuild: await this.wake(asleep, "fork") };
    } catch (err) {
      this.host.log.warn({ err, session: child.id }, "a fork's process could not start; it wakes on its first exec");
      return { rebuild: null, error: String((err as Error)?.message ?? err) };
    }
  }

  /** Notes a hibernated session found at start-up (it has no process, and is no orphan). */
  noteHibernated(session: Session): boolean {
    const mark = hibernatedMark(session);
    if (!mark) return false;
    this.sleeping.set(session.id, sleepingOf(session, mark));
    return true;
  }

  /** Follows a hibernated session's pause and resume (for the live list). */
  noteStatus(session: Session): void {
    const asleep = this.sleeping.get(session.id);
    if (!asleep || (session.status !== "active" && session.status !== "paused")) return;
    const paused = session.status === "paused";
    if (asleep.mark.paused !== paused) this.sleeping.set(session.id, { ...asleep, mark: { ...asleep.mark, paused } });
  }

  /** Forgets a session (ended or deleted). */
  forget(sessionId: string): void {
    this.sleeping.delete(sessionId);
    this.undoKeys.delete(sessionId);
  }

  /** The hibernated sessions this server knows of. */
  hibernated(): SleepingSession[] {
    return [...this.sleeping.values()];
  }

  // ---- rebuilds -----------------------------------------------------------------------------

  /**
   * Runs `change` (a restore: the workspace put back, the `restore` event appended) with the
   * session's interpreter stopped, then starts a fresh one replaying the cells of the new history.
   * A shell or llm session, or one without a process here, only gets the change (a hibernated
   * one replays the new history when it wakes). A paused one is left hibernated and paused.
   * @throws session_busy-like conflict (409) while an exec runs or waits
   */
  async rebuildAround<T>(ref: string, reason: RebuildReason, change: () => Promise<T>): Promise<Rebuilt<T>> {
    const session = await this.host.manager.get(ref);
    if (!INTERPRETER_KINDS.has(session.kind)) return { value: await change(), rebuild: null };
    return this.exclusive(session.id, async () => {
      const view = this.host.view(session.id);
      if (!view || view.state !== "live") return { value: await change(), rebuild: null };
      if (view.busy) throw errors.conflict(`session ${session.name} is running an exec; ${reason} it once it is idle`);
      if (view.paused) {
        await this.sleep(await this.host.manager.get(session.id), `${reason} while paused`, view);
        return { value: await change(), rebuild: null };
      }
      await this.host.stopProcess(session.id);
      let value: T;
      try {
        value = await change();
      } catch (err) {
        // The change was refused: the interpreter comes back as it was.
        await this.startRebuilt(await this.host.manager.get(session.id), reason).catch((restartErr: unknown) =>
          this.host.log.error({ err: restartErr, session: session.id }, "could not restart an interpreter after a refused change"),
        );
        throw err;
      }
      const rebuild = await this.startRebuilt(await this.host.manager.get(session.id), reason);
      await this.host.manager.appendEvent(session.id, "rebuild", { ...rebuild } as unknown as JsonObject);
      await this.noteRebuild(session.id, rebuild);
      return { value, rebuild };
    });
  }

  /**
   * Steps a python or typescript session back one exec: the interpreter rebuilt without its
   * latest cell, and the workspace as it was before that cell when the session keeps undo
   * snapshots (start option `undo_files`). An `undo` event records it.
   * @throws conflict (409) when there is nothing to undo, for another kind, or while an exec runs or waits; session_not_active (409) unless active
   */
  async undo(ref: string): Promise<UndoReport> {
    const session = await this.host.manager.get(ref);
    if (!INTERPRETER_KINDS.has(session.kind)) throw errors.conflict(`undo steps back an interpreter's cell: ${session.kind} sessions have none`, "kind");
    if (session.status !== "active") {
      throw new SessiondError("session_not_active", { action: "undo", ref: session.name, status: session.status, hint: session.status === "paused" ? "resume it first" : "only a live session can be undone" });
    }
    return this.exclusive(session.id, async () => {
      const current = await this.host.manager.get(session.id);
      const view = this.host.view(current.id);
      const asleep = hibernatedMark(current) !== undefined;
      if (!view && !asleep) throw new SessiondError("session_not_active", { action: "undo", ref: current.name, status: "no process", hint: "only a live session can be undone" });
      if (view?.busy) throw errors.conflict(`session ${current.name} is running an exec; undo once it is idle`);
      const cells = await cellsAt(this.host.manager, current.id);
      const last = cells.at(-1);
      if (!last) throw errors.conflict(`session ${current.name} has nothing to undo: its interpreter has run no cell`);
      if (view) await this.host.stopProcess(current.id);
      const files = await this.undoFiles(current, last);
      const plan = planOf(cells.slice(0, -1));
      const rebuild = asleep ? null : await this.startRebuilt(current, "undo", plan);
      const report: UndoReport = { seq: last.seq, input: last.input, files, rebuild };
      await this.host.manager.appendEvent(current.id, "undo", { seq: last.seq, session_id: last.session_id, files, rebuild: rebuild as unknown as JsonObject });
      if (rebuild) await this.noteRebuild(current.id, rebuild);
      return report;
    });
  }

  /** Puts back the workspace as it was before `cell`, when a snapshot of then is kept. */
  private async undoFiles(session: Session, cell: Cell): Promise<UndoReport["files"]> {
    if (!this.snapshots || session.runtime_metadata.undo_files !== true) return "off";
    if (!cell.files_before) return "not_kept";
    try {
      await this.snapshots.restore(session, cell.files_before);
      return "restored";
    } catch (err) {
      this.host.log.warn({ err, session: session.id }, "could not put the workspace back for an undo");
      return "not_kept";
    }
  }

  /**
   * Snapshots the workspace before an exec of a session that keeps undo snapshots (start option
   * `undo_files`), holding it for that exec's undo; the hold of the exec {@link UNDO_FILES_DEPTH}
   * before goes.
   * @returns the snapshot's digest (kept in the exec's event as `files_before`), or undefined
   */
  async beforeExec(session: Session, execId: string): Promise<string | undefined> {
    if (!this.snapshots || session.runtime_metadata.undo_files !== true) return undefined;
    const key = undoKey(execId);
    const { digest } = await this.snapshots.capture(session, key);
    const keys = this.undoKeys.get(session.id) ?? [];
    keys.push(key);
    while (keys.length > UNDO_FILES_DEPTH) await this.snapshots.release(session.id, keys.shift()!).catch(() => {});
    this.undoKeys.set(session.id, keys);
    return digest;
  }

  /**
   * Starts a session's process and rebuilds its interpreter from its history (or `plan`); other
   * kinds start as a recovery does. The hibernation mark goes with the start.
   */
  private async startRebuilt(session: Session, reason: RebuildReason, given?: CellPlan): Promise<RebuildReport> {
    const interpreter = INTERPRETER_KINDS.has(session.kind);
    const plan = interpreter ? (given ?? planOf(await cellsAt(this.host.manager, session.id))) : undefined;
    let report: RebuildReport = emptyReport(reason, plan);
    const startCwd = typeof session.runtime_metadata.start_cwd === "string" ? session.runtime_metadata.start_cwd : undefined;
    await this.host.startProcess(withoutHibernation(session), {
      // An interpreter replays from where it started: its cells' relative paths and chdirs say so.
      ...(interpreter && startCwd ? { cwd: startCwd } : {}),
      ...(plan?.toRun.length
        ? {
            prelude: async (proc: LiveProcess) => {
              report = await replayOnProcess(proc, plan, reason, this.host.config.execTimeoutMs);
            },
          }
        : {}),
    });
    return report;
  }

  /** Keeps the latest rebuild's report in runtime_metadata.rebuild, so the session itself says what it holds. */
  private async noteRebuild(sessionId: string, report: RebuildReport): Promise<void> {
    const session = await this.host.manager.get(sessionId);
    await this.host.manager.update(sessionId, { runtime_metadata: { ...session.runtime_metadata, rebuild: { ...report, at: new Date().toISOString() } as unknown as JsonObject } });
  }

  /** Runs `fn` once no other operation on the session is in progress; execs wait for it. */
  private exclusive<T>(sessionId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.transitions.get(sessionId) ?? Promise.resolve();
    const run = before.catch(() => {}).then(fn);
    const tracked: Promise<unknown> = run.catch(() => {}).finally(() => {
      if (this.transitions.get(sessionId) === tracked) this.transitions.delete(sessionId);
    });
    this.transitions.set(sessionId, tracked);
    return run;
  }
}

/** Where a fork's process starts: the source's cwd moved into the fork's workspace when it lay in the source's, else the fork's workspace. */
function forkCwd(cwd: unknown, sourceWorkspace: string, childWorkspace: string): string {
  if (typeof cwd !== "string") return childWorkspace;
  if (cwd === sourceWorkspace) return childWorkspace;
  return cwd.startsWith(`${sourceWorkspace}/`) ? `${childWorkspace}${cwd.slice(sourceWorkspace.length)}` : childWorkspace;
}
