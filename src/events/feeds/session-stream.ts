import { type Session, type SessionEvent, SessiondError, errors } from "../../core/index.js";
import type { OutputLog, SessionChange, SessionManager } from "../../engine/index.js";
import type { Store, StoredOutput } from "../../store/index.js";
import { eventMessage, eventMessageBytes, outputMessage, readyMessage, streamCursor } from "./messages.js";
import { Outlet, type Sink } from "./outlet.js";

/** What a per-session stream runs on. */
export interface StreamDeps {
  readonly manager: SessionManager;
  readonly store: Store;
  readonly output: OutputLog;
  /** A subscriber's bound on unsent and held-back bytes (config feedMaxBufferedBytes). */
  readonly maxBufferedBytes: number;
}

/** A per-session stream request, validated (docs/streams.md, "Per-session stream"). */
export interface StreamQuery {
  readonly after_seq?: number;
  /** The parameter `after_seq` was read from, named when it is past the session's end. */
  readonly after_seq_from?: "after_seq" | "cursor" | "Last-Event-ID";
  readonly after_pos?: number;
  readonly exec_id?: string;
  readonly offset?: number;
  readonly stderr_offset?: number;
  /** Event types to send; all when absent. */
  readonly types?: readonly string[];
  /** Whether output chunks are sent. */
  readonly output: boolean;
}

/** Where a stream starts, checked against what the store holds before anything is sent. */
export interface StreamPlan {
  readonly session: Session;
  readonly query: StreamQuery;
  /** Send recorded events after this seq first; undefined: events start live. */
  readonly afterSeq: number | undefined;
  /** Send kept output after this position first; undefined: output starts live. */
  readonly afterPos: number | undefined;
  /** Skip the bytes of this exec below these offsets (an exec/offset resume). */
  readonly exec: { readonly id: string; readonly stdout: number; readonly stderr: number } | undefined;
  /**
   * Whether the client may read the session's exec input and output. When not, its exec events
   * come without them (withoutExecIo) and the query asks for no output.
   */
  readonly execIo: boolean;
}

/** Rows read per round while replaying a backlog. */
const EVENT_PAGE = 1000;
const OUTPUT_PAGE = 64;

/**
 * Checks a stream request against the store: an exec/offset the output log does not hold is a
 * 416 naming the valid range, and so is an `after_seq` past the session's last event. `execIo`:
 * whether the client may read exec input and output (the caller's rule); without it no output is
 * sent, whatever the query says.
 * @throws range_not_satisfiable, not_found (an exec of another session)
 */
export async function planStream(deps: StreamDeps, session: Session, asked: StreamQuery, execIo: boolean): Promise<StreamPlan> {
  const query = execIo ? asked : { ...asked, output: false };
  if (query.after_seq !== undefined && query.after_seq > session.last_seq) {
    const field = query.after_seq_from ?? "after_seq";
    throw new SessiondError(
      "range_not_satisfiable",
      { what: `event ${query.after_seq} of session ${session.name}`, field, range: `0–${session.last_seq}` },
      { field },
    );
  }
  let afterPos = query.after_pos;
  let exec: StreamPlan["exec"];
  if (query.exec_id !== undefined && query.output) {
    const stdout = query.offset ?? 0;
    const stderr = query.stderr_offset ?? 0;
    await deps.output.flush();
    const extent = await deps.store.execOutputExtent(query.exec_id);
    if (extent && extent.session_id !== session.id) throw new SessiondError("not_found", { what: "exec", ref: query.exec_id }, { field: "exec_id" });
    const have = { stdout: extent?.stdout_bytes ?? 0, stderr: extent?.stderr_bytes ?? 0 };
    for (const [field, stream, wanted] of [["offset", "stdout", stdout], ["stderr_offset", "stderr", stderr]] as const) {
      if (wanted > have[stream]) {
        throw new SessiondError(
          "range_not_satisfiable",
          { what: `byte ${wanted} of exec ${query.exec_id}'s ${stream}`, field, range: `0–${have[stream]}` },
          { field },
        );
      }
    }
    if (extent) {
      const starts: number[] = [];
      if (stdout < extent.stdout_bytes) starts.push((await deps.store.outputPosAt(query.exec_id, "stdout", stdout))!);
      if (stderr < extent.stderr_bytes) starts.push((await deps.store.outputPosAt(query.exec_id, "stderr", stderr))!);
      const from = starts.length ? Math.min(...starts) - 1 : extent.last_pos;
      afterPos = afterPos === undefined ? from : Math.max(afterPos, from);
      exec = { id: query.exec_id, stdout, stderr };
    }
    // An exec with no output kept yet (queued, or silent so far): its output starts live.
  }
  return { session, query, afterSeq: query.after_seq, afterPos, exec, execIo };
}

/**
 * One client's per-session stream: the session's events and its execs' output. It listens to the
 * live sources first (holding what arrives), replays the backlog from the store, then sends what
 * was held and goes live, skipping anything at or before what it already sent — so a client that
 * resumes from a cursor gets no gap and no duplicate. Nothing here ever makes a writer wait.
 */
export class SessionStream {
  private readonly outlet: Outlet;
  private readonly sessionId: string;
  private readonly types: ReadonlySet<string> | undefined;
  private lastSeq: number;
  private lastPos: number;
  private seqKnown: boolean;
  private posKnown: boolean;
  /** Live items that arrived while the backlog was read. */
  private held: (SessionEvent | StoredOutput)[] | undefined = [];
  private heldBytes = 0;
  private readonly unsubscribe: (() => void)[] = [];
  /** Events held back until the output before them is published (see onChange). */
  private deferred: SessionEvent[] | undefined;

  constructor(
    private readonly deps: StreamDeps,
    private readonly plan: StreamPlan,
    sink: Sink,
  ) {
    this.sessionId = plan.session.id;
    this.types = plan.query.types ? new Set(plan.query.types) : undefined;
    // A stream that starts live starts its cursor where the session and the output log are now:
    // a client that reconnects with it resumes from there, not from the beginning of history.
    this.seqKnown = plan.afterSeq !== undefined;
    this.lastSeq = plan.afterSeq ?? plan.session.last_seq;
    this.posKnown = plan.afterPos !== undefined;
    this.lastPos = plan.afterPos ?? deps.output.lastPublishedPos;
    this.outlet = new Outlet(sink, deps.maxBufferedBytes, this.cursor());
    sink.onClose(() => this.stop());
  }

  /** Replays the backlog, then stays live until the client leaves or the session is deleted. */
  async start(): Promise<void> {
    this.unsubscribe.push(this.deps.manager.bus.subscribe((change) => this.onChange(change)));
    if (this.plan.query.output) this.unsubscribe.push(this.deps.output.subscribe((pieces) => this.onOutput(pieces)));
    try {
      if (this.seqKnown) await this.replayEvents();
      if (this.posKnown && this.plan.query.output) await this.replayOutput();
    } catch (err) {
      this.end(1011, "internal_error");
      throw err;
    }
    if (this.outlet.closed) return this.stop();
    const held = this.held ?? [];
    this.held = undefined;
    for (const item of held) this.deliver(item);
    this.outlet.push(readyMessage(this.cursor()));
  }

  /** Ends the stream (the session went away, or the server is closing). */
  end(code: number, reason: string): void {
    this.outlet.end({ code, reason });
    this.stop();
  }

  private stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private cursor(): string {
    return streamCursor(this.lastSeq, this.lastPos);
  }

  private onChange(change: SessionChange): void {
    if (change.session.id !== this.sessionId) return;
    if (change.type === "event.appended") {
      const event = change.event;
      // An exec's event can commit before its last output chunk is written (they are written by
      // two group committers): hold it, and what follows it, until that output is published, so
      // a client sees an exec's end after all of its output.
      if (this.deferred) return void this.deferred.push(event);
      if (event.type === "exec" && this.plan.query.output && this.deps.output.pendingFor(this.sessionId)) {
        this.deferred = [event];
        void this.deps.output.flush().then(() => {
          const events = this.deferred ?? [];
          this.deferred = undefined;
          for (const e of events) this.offer(e, this.held ? eventMessageBytes(this.sessionId, e) : 0);
        });
        return;
      }
      this.offer(event, this.held ? eventMessageBytes(this.sessionId, event) : 0);
    } else if (change.type === "session.deleted") this.end(1000, "session_deleted");
  }

  private onOutput(pieces: readonly StoredOutput[]): void {
    for (const piece of pieces) if (piece.session_id === this.sessionId) this.offer(piece, piece.data.length);
  }

  private offer(item: SessionEvent | StoredOutput, bytes: number): void {
    if (this.held === undefined) return this.deliver(item);
    this.held.push(item);
    this.heldBytes += bytes;
    // Held too much while replaying a long backlog: cut off; the client resumes from its cursor.
    if (this.heldBytes > this.deps.maxBufferedBytes) {
      this.held = [];
      this.outlet.end({ code: 4008, reason: "slow_consumer", cursor: this.cursor() });
      this.stop();
    }
  }

  private deliver(item: SessionEvent | StoredOutput): void {
    if ("pos" in item) this.sendOutput(item);
    else this.sendEvent(item);
  }

  private sendEvent(event: SessionEvent): void {
    if (this.seqKnown && event.seq <= this.lastSeq) return;
    this.seqKnown = true;
    this.lastSeq = event.seq;
    if (this.types && !this.types.has(event.type)) return;
    this.outlet.push(eventMessage(this.sessionId, event, this.cursor(), this.plan.execIo ? undefined : this.plan.session.kind));
  }

  private sendOutput(piece: StoredOutput): void {
    if (this.posKnown && piece.pos <= this.lastPos) return;
    this.posKnown = true;
    this.lastPos = piece.pos;
    let skip = 0;
    const exec = this.plan.exec;
    if (exec && piece.exec_id === exec.id) {
      const from = piece.stream === "stdout" ? exec.stdout : exec.stderr;
      const end = piece.offset + piece.data.length;
      if (end <= from) return;
      if (piece.offset < from) skip = from - piece.offset;
    }
    this.outlet.push(outputMessage(piece, this.cursor(), skip));
  }

  private async replayEvents(): Promise<void> {
    for (;;) {
      const page = await this.deps.manager.listEvents(this.sessionId, {
        after_seq: this.lastSeq,
        limit: EVENT_PAGE,
        ...(this.types ? { types: [...this.types] } : {}),
      });
      for (const event of page) {
        this.sendEvent(event);
        if (this.outlet.full) await this.outlet.room();
      }
      if (this.outlet.closed) return;
      await this.outlet.room();
      if (page.length < EVENT_PAGE) return;
    }
  }

  private async replayOutput(): Promise<void> {
    await this.deps.output.flush();
    for (;;) {
      const page = await this.deps.store.listOutput(this.sessionId, this.lastPos, OUTPUT_PAGE);
      for (const piece of page) {
        this.sendOutput(piece);
        if (this.outlet.full) await this.outlet.room();
      }
      if (this.outlet.closed) return;
      await this.outlet.room();
      if (page.length < OUTPUT_PAGE) return;
    }
  }
}

/**
 * The session stream's query, from strings, and the `Last-Event-ID` header (`lastEventId`). The
 * header wins over the URL's starting point (after_seq, after_pos, cursor): an SSE client
 * reconnects with the URL it was opened with, so the URL says where the client began and the
 * header where it stopped — and the ids it was sent already carry that start forward. In the URL,
 * after_seq / after_pos win over cursor. An empty header is none (SSE sends no empty id).
 * @throws validation naming the parameter, or `Last-Event-ID`
 */
export function parseStreamQuery(raw: Record<string, unknown>, lastEventId: string | undefined): StreamQuery {
  let afterSeq = optionalInt(raw, "after_seq");
  let afterPos = optionalInt(raw, "after_pos");
  let seqFrom: StreamQuery["after_seq_from"] = afterSeq !== undefined ? "after_seq" : undefined;
  const cursor = optionalString(raw, "cursor");
  if (cursor !== undefined) {
    const at = parseStreamCursor(cursor, "cursor");
    if (afterSeq === undefined) seqFrom = "cursor";
    afterSeq ??= at.seq;
    afterPos ??= at.pos;
  }
  if (lastEventId) {
    const at = parseStreamCursor(lastEventId, "Last-Event-ID");
    afterSeq = at.seq;
    afterPos = at.pos;
    seqFrom = "Last-Event-ID";
  }
  const execId = optionalString(raw, "exec_id");
  // An empty exec_id (an unset variable in a pasted URL) would otherwise read as no exec_id at all.
  if (execId === "") throw errors.validation("exec_id", "empty: give an exec's id, or leave the parameter out");
  const offset = optionalInt(raw, "offset");
  const stderrOffset = optionalInt(raw, "stderr_offset");
  if (execId === undefined && (offset !== undefined || stderrOffset !== undefined)) {
    throw errors.validation(offset !== undefined ? "offset" : "stderr_offset", "needs exec_id: an offset is within one exec's output");
  }
  // `type`, as the feed and the event list name it, or `types`.
  if (raw.types !== undefined && raw.type !== undefined) throw errors.validation("type", "give type or types, not both");
  const types = (optionalString(raw, "types") ?? optionalString(raw, "type"))?.split(",").filter(Boolean);
  const output = optionalString(raw, "output");
  if (output !== undefined && output !== "0" && output !== "1") throw errors.validation("output", "expected 0 or 1");
  return {
    ...(afterSeq !== undefined ? { after_seq: afterSeq, after_seq_from: seqFrom! } : {}),
    ...(afterPos !== undefined ? { after_pos: afterPos } : {}),
    ...(execId !== undefined ? { exec_id: execId } : {}),
    ...(offset !== undefined ? { offset } : {}),
    ...(stderrOffset !== undefined ? { stderr_offset: stderrOffset } : {}),
    ...(types?.length ? { types } : {}),
    output: output !== "0",
  };
}

/** A per-session stream's cursor `"<seq>:<pos>"`. @throws validation naming `field` */
function parseStreamCursor(text: string, field: string): { seq: number; pos: number } {
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(text);
  if (!m) throw errors.validation(field, 'expected "<seq>:<pos>" as sent in the id of a per-session stream message');
  return { seq: Number(m[1]), pos: Number(m[2]) };
}

/** A query parameter given once, as a string. @throws validation when repeated */
export function optionalString(raw: Record<string, unknown>, name: string): string | undefined {
  const value = raw[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw errors.validation(name, "give it once");
  return value;
}

/** A non-negative integer query parameter. @throws validation naming it */
export function optionalInt(raw: Record<string, unknown>, name: string): number | undefined {
  const value = optionalString(raw, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw errors.validation(name, "expected a non-negative integer");
  return Number(value);
}
