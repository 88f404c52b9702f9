import type { SessiondClient } from "sessiond/client";

/** The event type the cluster suites write: one per write, its `data.id` unique over the run. */
export const WRITE_TYPE = "cluster_write";

/** What became of one write, as its writer saw it. */
export type Outcome = { readonly acked: true; readonly seq: number } | { readonly acked: false; readonly error: string };

/** What the store holds that it should not, or lacks that it should; all empty when nothing was lost or doubled. */
export interface Problems {
  /** Sessions whose stored seqs are not 1…last_seq without a gap, with the seqs they have. */
  readonly gaps: string[];
  /** Write ids stored more than once. */
  readonly doubled: string[];
  /** Acknowledged writes that are not stored. */
  readonly lost: string[];
  /** Acknowledged writes stored in another session or at another seq than the acknowledgement said. */
  readonly misplaced: string[];
}

/**
 * Every write the suite attempted, each with an id of its own, and what its writer was told. A
 * write that failed (an error, a dropped connection) may or may not have landed, so it is never
 * repeated with the same id; it may be stored at most once, like every other.
 */
export class WriteLedger {
  private readonly writes = new Map<string, { readonly session: string; outcome: Outcome | undefined }>();

  /** A new id for a write to `session`; record its outcome with {@link settle}. */
  begin(session: string, id: string): string {
    if (this.writes.has(id)) throw new Error(`write id ${id} used twice by the test`);
    this.writes.set(id, { session, outcome: undefined });
    return id;
  }

  settle(id: string, outcome: Outcome): void {
    this.writes.get(id)!.outcome = outcome;
  }

  /** Writes `id` to `session` with the SDK, recording the outcome; never throws. */
  async append(client: SessiondClient, session: string, id: string): Promise<Outcome> {
    this.begin(session, id);
    let outcome: Outcome;
    try {
      const event = await client.sessions.appendEvent(session, WRITE_TYPE, { id });
      outcome = { acked: true, seq: event.seq };
    } catch (err) {
      outcome = { acked: false, error: errorKind(err) };
    }
    this.settle(id, outcome);
    return outcome;
  }

  get acked(): number {
    return [...this.writes.values()].filter((w) => w.outcome?.acked).length;
  }

  /** How many writes failed, by error: what the writers saw during the faults. */
  failures(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { outcome } of this.writes.values()) if (outcome && !outcome.acked) counts[outcome.error] = (counts[outcome.error] ?? 0) + 1;
    return counts;
  }

  /** Reads every event of `sessions` (through `client`) and compares them with what was acknowledged. */
  async check(client: SessiondClient, sessions: readonly string[]): Promise<Problems> {
    const gaps: string[] = [];
    const stored = new Map<string, { session: string; seq: number }[]>();
    for (const session of sessions) {
      const seqs: number[] = [];
      for await (const event of client.sessions.iterateEvents(session)) {
        seqs.push(event.seq);
        if (event.type !== WRITE_TYPE) continue;
        const id = String(event.data.id);
        stored.set(id, [...(stored.get(id) ?? []), { session, seq: event.seq }]);
      }
      const { last_seq: last } = await client.sessions.getSession(session);
      if (seqs.length !== last || seqs.some((seq, i) => seq !== i + 1)) gaps.push(`${session}: ${compact(seqs)} (last_seq ${last})`);
    }
    const doubled = [...stored]
      .filter(([, places]) => places.length > 1)
      .map(([id, places]) => `${id} at ${places.map((p) => `${p.session}#${p.seq}`).join(", ")} (its writer saw ${seen(this.writes.get(id)?.outcome)})`);
    const lost: string[] = [];
    const misplaced: string[] = [];
    for (const [id, { session, outcome }] of this.writes) {
      if (!outcome?.acked) continue;
      const places = stored.get(id);
      if (!places) lost.push(`${id} (acknowledged as ${session}#${outcome.seq})`);
      else if (!places.some((p) => p.session === session && p.seq === outcome.seq)) misplaced.push(`${id}: acknowledged as ${session}#${outcome.seq}, stored at ${places.map((p) => `${p.session}#${p.seq}`).join(", ")}`);
    }
    return { gaps, doubled, lost, misplaced };
  }
}

/**
 * An error as its code (a SessiondError's), with the start of its message for `internal` (what
 * the SDK makes of an answer that is not sessiond's, such as the load balancer's 502 page) and
 * `server_unreachable` (a dropped connection): few distinct values to count.
 */
export function errorKind(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  // fetch says only "fetch failed"; why is in its cause (ECONNRESET, other side closed, …).
  const cause = e?.cause ? `: ${String(e.cause.code ?? e.cause.message)}` : "";
  const message = `${String(e?.message ?? err).split("\n")[0]!}${cause}`.replace(/\d{3,}/g, "N").slice(0, 120);
  if (typeof e?.code === "string") return e.code === "internal" || e.code === "server_unreachable" ? `${e.code}: ${message}` : e.code;
  return message;
}

function seen(outcome: Outcome | undefined): string {
  if (!outcome) return "no write";
  return outcome.acked ? `#${outcome.seq}` : outcome.error;
}

/** `1-40, 42-50`: a list of seqs with its runs folded. */
function compact(seqs: readonly number[]): string {
  const runs: string[] = [];
  let start = seqs[0];
  for (let i = 1; i <= seqs.length; i++) {
    if (seqs[i] === seqs[i - 1]! + 1) continue;
    runs.push(start === seqs[i - 1] ? `${start}` : `${start}-${seqs[i - 1]}`);
    start = seqs[i];
  }
  return runs.join(", ");
}
