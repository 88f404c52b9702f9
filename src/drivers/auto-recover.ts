import { type Config, type JsonObject, type Session, type SessionEvent, assertModeEnabled, isSessiondError } from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import type { LiveSessions } from "./live-sessions.js";
import type { DriverLog } from "./log.js";
import { EXEC_KINDS } from "./modes.js";
import { type ReplayReport, replayCells } from "./replay.js";
import { isServerGoneReason } from "./server-gone.js";

/** The event a session gets when it was brought back at start: `{crash_seq, crash_reason, replay?, paused?}`. */
export const AUTO_RECOVERED = "auto_recovered";
/** The event a session gets when it could not be brought back at start (it stays crashed): `{crash_seq, crash_reason, reason, code}`. */
export const AUTO_RECOVER_FAILED = "auto_recover_failed";

/**
 * Recoveries run at once. Each is mostly waiting on child processes (bubblewrap, an interpreter
 * coming up), so a few overlap well, while a fleet of hundreds cannot flood a small machine
 * with starts or crowd out the requests the server answers meanwhile.
 */
const CONCURRENCY = 4;
const PAGE = 1000;
/** The kinds whose state a recovery rebuilds by replaying their cells (drivers/replay.ts). */
const REPLAYED = new Set<string>(["python", "typescript"]);

/** What became of one session the pass looked at. */
export interface AutoRecoveryOutcome {
  readonly session_id: string;
  readonly name: string;
  /** `skipped`: someone else recovered, ended or deleted it first, or the server began to shut down. */
  readonly outcome: "recovered" | "failed" | "skipped";
  /** Why it failed. */
  readonly reason?: string;
}

/** A crashed session whose latest crash says the server went away. */
interface Candidate {
  readonly session: Session;
  readonly crash: SessionEvent;
}

/** What an auto-recovery runs on. */
export interface AutoRecoveryOptions {
  readonly manager: SessionManager;
  readonly live: LiveSessions;
  readonly config: Pick<Config, "enableSessions" | "executionModes">;
  readonly log: DriverLog;
}

/**
 * Config `autoRecover`: brings back, at server start, the live sessions that crashed only because
 * a server went away — those whose latest `crash` event has a reason of {@link isServerGoneReason}
 * (the previous server shut down, or died and this start's orphan sweep found them). A session
 * that crashed for its own reason (its process died, the kernel's memory limit, an explicit
 * crash) is left alone, as is one whose latest crash came from a failed restart.
 *
 * Each is recovered as `LiveSessions.recover` does (last cwd and environment, a `recover` event),
 * python and typescript sessions then replay their successful cells, a session that was paused
 * is paused again, and an `auto_recovered` event records it. One that cannot come back (its kind
 * is off, maxLiveSessions is reached, the sandbox or the process cannot start) stays crashed with
 * an `auto_recover_failed` event giving the reason — once per crash and reason, so restarts do
 * not pile them up — and is tried again at the next start while its crash still says the server
 * went away.
 *
 * The pass runs in the background, {@link CONCURRENCY} sessions at a time: the server answers
 * meanwhile. {@link stop} (before `LiveSessions.close`) lets no new recovery begin and waits for
 * the processes being started, so that the close stops them too.
 *
 * @example
 * const recovery = new AutoRecovery({ manager, live, config, log });
 * recovery.start();
 * const outcomes = await recovery.done;
 */
export class AutoRecovery {
  private readonly manager: SessionManager;
  private readonly live: LiveSessions;
  private readonly config: AutoRecoveryOptions["config"];
  private readonly log: DriverLog;
  /** Recoveries whose process is being started now. */
  private readonly starting = new Set<Promise<unknown>>();
  private stopped = false;
  private pass: Promise<AutoRecoveryOutcome[]> | undefined;

  constructor(options: AutoRecoveryOptions) {
    this.manager = options.manager;
    this.live = options.live;
    this.config = options.config;
    this.log = options.log;
  }

  /** Begins the pass in the background (once); see {@link done}. */
  start(): void {
    if (this.pass || this.stopped) return;
    this.pass = this.run().catch((err: unknown) => {
      if (!this.stopped) this.log.error({ err }, "auto-recovery of live sessions failed");
      return [];
    });
  }

  /** What the pass did, once it is over (an empty list before it starts or when it could not list the sessions). */
  get done(): Promise<AutoRecoveryOutcome[]> {
    return this.pass ?? Promise.resolve([]);
  }

  /** Lets no further recovery begin, and waits for the processes being started. */
  async stop(): Promise<void> {
    this.stopped = true;
    while (this.starting.size) await Promise.allSettled([...this.starting]);
  }

  private async run(): Promise<AutoRecoveryOutcome[]> {
    const candidates = await this.candidates();
    if (!candidates.length) return [];
    this.log.info({ sessions: candidates.map((c) => c.session.id) }, "auto-recovering live sessions the previous server left crashed");
    const outcomes: AutoRecoveryOutcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < candidates.length) {
        const candidate = candidates[next++]!;
        outcomes.push(
          await this.recoverOne(candidate).catch((err: unknown): AutoRecoveryOutcome => {
            this.log.error({ err, session: candidate.session.id }, "auto-recovery of a live session failed");
            return { session_id: candidate.session.id, name: candidate.session.name, outcome: "failed", reason: String((err as Error)?.message ?? err) };
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, candidates.length) }, worker));
    const count = (o: AutoRecoveryOutcome["outcome"]) => outcomes.filter((x) => x.outcome === o).length;
    this.log.info({ recovered: count("recovered"), failed: count("failed"), skipped: count("skipped") }, "auto-recovery of live sessions done");
    return outcomes;
  }

  /** Crashed live sessions whose latest crash says the server went away, oldest crash first. */
  private async candidates(): Promise<Candidate[]> {
    const found: Candidate[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.manager.list({ status: ["crashed"], kind: [...new Set([...EXEC_KINDS, ...this.live.kinds()])] }, { limit: PAGE, ...(cursor ? { cursor } : {}) });
      for (const session of page.items) {
        const crash = await this.latestCrash(session.id);
        if (crash && isServerGoneReason(crash.data.reason)) found.push({ session, crash });
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor && !this.stopped);
    return found.sort((a, b) => a.crash.ts.localeCompare(b.crash.ts));
  }

  private async latestCrash(sessionId: string): Promise<SessionEvent | undefined> {
    return (await this.manager.listEvents(sessionId, { types: ["crash"], descending: true, limit: 1 }))[0];
  }

  private async recoverOne({ session, crash }: Candidate): Promise<AutoRecoveryOutcome> {
    const about = { session_id: session.id, name: session.name };
    if (this.stopped) return { ...about, outcome: "skipped" };
    // Someone may have recovered it (and it crashed again on its own) since the listing.
    const current = await this.manager.find(session.id);
    const latest = current?.status === "crashed" ? await this.latestCrash(session.id) : undefined;
    if (!current || latest?.seq !== crash.seq) return { ...about, outcome: "skipped" };
    const cause = { crash_seq: crash.seq, crash_reason: String(crash.data.reason) };
    try {
      // First, so that a kind that is off says so rather than whatever else stands in the way.
      assertModeEnabled(this.config, current.kind);
      // Checked in the same turn as the start is registered, so stop() either prevents it or waits for it.
      if (this.stopped) return { ...about, outcome: "skipped" };
      const starting = this.live.recover(current.id);
      this.starting.add(starting);
      try {
        await starting;
      } finally {
        this.starting.delete(starting);
      }
    } catch (err) {
      if (this.stopped || isSessiondError(err, "invalid_transition") || isSessiondError(err, "not_found")) return { ...about, outcome: "skipped" };
      const reason = err instanceof Error ? err.message : String(err);
      const code = isSessiondError(err) ? err.code : "internal";
      this.log.warn({ session: current.id, reason }, "could not auto-recover a live session; it stays crashed");
      await this.recordFailure(current.id, { ...cause, reason, code });
      return { ...about, outcome: "failed", reason };
    }
    const data: JsonObject = { ...cause };
    if (REPLAYED.has(current.kind)) {
      data.replay = await replayCells(this.live, this.manager, current.id).then(summary, (err: unknown) => ({
        error: err instanceof Error ? err.message : String(err),
      }));
    }
    if (crash.data.from === "paused") data.paused = true;
    await this.manager.appendEvent(current.id, AUTO_RECOVERED, data).catch((err: unknown) => this.log.warn({ err, session: current.id }, "could not record an auto-recovery"));
    // Paused before the server went away: paused again (the replay needed it active).
    if (data.paused) await this.manager.pause(current.id, "paused before the server went away").catch(() => {});
    this.log.info({ session: current.id, kind: current.kind }, "auto-recovered a live session");
    return { ...about, outcome: "recovered" };
  }

  /** Appends the failure unless the latest one already says the same about the same crash. */
  private async recordFailure(sessionId: string, data: { crash_seq: number; crash_reason: string; reason: string; code: string }): Promise<void> {
    try {
      const [last] = await this.manager.listEvents(sessionId, { types: [AUTO_RECOVER_FAILED], after_seq: data.crash_seq, descending: true, limit: 1 });
      if (last && last.data.reason === data.reason) return;
      await this.manager.appendEvent(sessionId, AUTO_RECOVER_FAILED, data);
    } catch (err) {
      this.log.warn({ err, session: sessionId }, "could not record a failed auto-recovery");
    }
  }
}

/** A replay's report without the per-cell list (each replayed cell has its own `replay` event). */
function summary(report: ReplayReport): JsonObject {
  return { cells: report.cells, replayed: report.replayed.length, stopped_at: report.stopped_at };
}
