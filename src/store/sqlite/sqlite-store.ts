import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { LRUCache } from "lru-cache";
import { DEFAULT_LIST_SCAN_ROWS, jsonText, parseJson } from "../../core/index.js";
import type {
  Checkpoint,
  EventQuery,
  Page,
  PageRequest,
  Session,
  SessionEvent,
  SessionFilter,
  SessionPageRequest,
  SessionStats,
  SessionStatus,
} from "../../core/index.js";
import { cursorPosition, listOrder } from "../list-order.js";
import {
  SQLITE_DIALECT,
  assertSearchCountable,
  pageOfKeys,
  searchScanEnd,
  searchScanQuery,
  searchText,
  sessionIdsByNameQuery,
  sessionPageQuery,
  sessionQuery,
} from "../sql-filter.js";
import { type StatsGroup, statsFromGroups } from "../stats.js";
import type {
  CommitResult,
  ExecOutputExtent,
  FeedEntry,
  HeldSessions,
  NameQuery,
  OutputRecord,
  OutputStreamName,
  StoredOutput,
  SessionActivity,
  SessionPage,
  SyncStore,
  WebhookDelivery,
  WebhookDeliveryUpdate,
  WebhookRecord,
  WriteOp,
} from "../store.js";
import { assertKnownSchema, migrate } from "./migrate.js";
import {
  type CheckpointRow,
  type EventRow,
  SCALAR_COLUMNS,
  SESSION_COLUMNS,
  SESSION_SELECT,
  checkpointFromRow,
  eventFromRow,
  sessionFromRow,
  sessionRowFromValues,
  sessionToRow,
} from "../rows.js";

const STATEMENT_CACHE_SIZE = 500;
/** Session keys kept in memory: about 100 bytes each. */
const SESSION_KEY_CACHE_SIZE = 100_000;

/** How to open the SQLite store. */
export interface SqliteStoreOptions {
  /** The database file; its directory is created. */
  readonly path: string;
  /** `synchronous` pragma in WAL mode. @default "full" */
  readonly synchronous: "full" | "normal";
  /** How long a writer waits for a lock held by another connection. */
  readonly busyTimeoutMs: number;
  /** Page cache size. */
  readonly cacheBytes: number;
  /** WAL pages written between automatic checkpoints. */
  readonly checkpointPages: number;
  /**
   * Opens the file of a store another process owns, to read it: no migration, no pragma that
   * writes, no cached session keys (the owner may delete a session and give its key to another).
   * @default false
   */
  readonly readOnly?: boolean;
  /** Called once the database is closed (the owner lock taken for it is released then). */
  readonly onClose?: () => void;
  /** The most sessions a search examines for one page (config listScanRows). @default 10000 */
  readonly listScanRows?: number;
}

/**
 * The embedded store: one SQLite file in WAL mode through better-sqlite3. Every method is
 * synchronous; `commit` applies a whole group-commit batch in one IMMEDIATE transaction.
 */
export class SqliteStore implements SyncStore {
  private readonly db: Database.Database;
  /** Prepared statements by SQL text; list queries come in many filter shapes, so it is bounded. */
  private readonly statements = new LRUCache<string, Database.Statement>({ max: STATEMENT_CACHE_SIZE });
  /** Session id → its integer key in the events table. */
  private readonly keys = new LRUCache<string, number>({ max: SESSION_KEY_CACHE_SIZE });
  private readonly applyBatch: (ops: readonly WriteOp[]) => CommitResult;
  private appendOutputTx: Database.Transaction<(batch: readonly OutputRecord[]) => number[]> | undefined;

  private readonly readOnly: boolean;
  private readonly onClose: (() => void) | undefined;
  private readonly listScanRows: number;

  constructor(options: SqliteStoreOptions) {
    this.readOnly = options.readOnly ?? false;
    this.onClose = options.onClose;
    this.listScanRows = options.listScanRows ?? DEFAULT_LIST_SCAN_ROWS;
    if (this.readOnly) {
      this.db = new Database(options.path, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs });
      this.db.pragma(`cache_size = ${-Math.ceil(options.cacheBytes / 1024)}`);
      assertKnownSchema(this.db);
      this.applyBatch = () => {
        throw new Error("this store was opened read-only: its owner writes it");
      };
      return;
    }
    const onDisk = options.path !== ":memory:";
    if (onDisk) mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    this.db = new Database(options.path);
    // Sessions hold whatever agents put in them: the owner's alone (SQLite gives the WAL and
    // shared-memory files the database file's mode).
    if (onDisk) chmodSync(options.path, 0o600);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    this.db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    // A bigger cache and rarer checkpoints: each group commit dirties about one leaf page per
    // session it touches, and a checkpoint copies each distinct page once however often it was
    // rewritten in the WAL, so a longer interval saves most of the copying.
    this.db.pragma(`cache_size = ${-Math.ceil(options.cacheBytes / 1024)}`);
    this.db.pragma(`wal_autocheckpoint = ${options.checkpointPages}`);
    migrate(this.db);
    // Fresh planner statistics for the list filters, sampled (analysis_limit) so opening a large
    // store stays fast.
    this.db.pragma("analysis_limit = 400");
    this.db.pragma("optimize = 0x10002");
    const tx = this.db.transaction((ops: readonly WriteOp[]) => this.apply(ops));
    this.applyBatch = (ops) => tx.immediate(ops);
  }

  commit(ops: readonly WriteOp[]): CommitResult {
    if (!ops.length) return { rejected: [] };
    try {
      return this.applyBatch(ops);
    } catch (err) {
      // Rolled back: a key cached for a session this transaction inserted names no row now, and
      // the next insert may take it for another session (the engine retries a refused batch
      // without its culprits, so that insert may come at once).
      this.keys.clear();
      throw err;
    }
  }

  private apply(ops: readonly WriteOp[]): CommitResult {
    const rejected: string[] = [];
    for (const op of ops) {
      const sessionId = op.op === "put_session" ? op.session.id : op.op === "put_checkpoint" ? op.checkpoint.session_id : op.session_id;
      if (rejected.length && rejected.includes(sessionId)) continue;
      switch (op.op) {
        case "put_session":
          if (op.insert) {
            if (!this.insertSession(op.session)) rejected.push(sessionId);
          } else if (op.scalarsOnly) {
            this.updateScalars(op.session);
          } else {
            this.updateSession(op.session);
          }
          break;
        case "append_event":
          this.stmt("INSERT INTO events (skey, seq, ts, type, data) VALUES (?, ?, ?, ?, ?)").run(
            this.keyOf(op.session_id),
            op.event.seq,
            op.event.ts,
            op.event.type,
            op.text ?? jsonText(op.event.data),
          );
          break;
        case "put_checkpoint": {
          const c = op.checkpoint;
          this.stmt(
            "INSERT INTO checkpoints (id, session_id, seq, label, data, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
          ).run(c.id, c.session_id, c.seq, c.label, jsonText(c.data), jsonText(c.state), c.created_at);
          break;
        }
        case "delete_session": {
          const key = this.keyOf(op.session_id);
          if (key !== undefined) this.deleteEvents(key);
          for (const table of ["checkpoints", "session_labels", "session_search_text"]) {
            this.stmt(`DELETE FROM ${table} WHERE session_id = ?`).run(op.session_id);
          }
          this.stmt("DELETE FROM sessions WHERE id = ?").run(op.session_id);
          this.keys.delete(op.session_id);
          break;
        }
      }
    }
    return { rejected };
  }

  private insertSession(session: Session): boolean {
    const row = sessionToRow(session);
    const inserted = this.stmt(
      `INSERT INTO sessions (${SESSION_COLUMNS.join(", ")}, skey)
       VALUES (${SESSION_COLUMNS.map((c) => `@${c}`).join(", ")}, (SELECT coalesce(max(skey), 0) + 1 FROM sessions))
       ON CONFLICT DO NOTHING`,
    ).run(row);
    if (inserted.changes === 0) return false;
    this.writeLabels(session);
    this.writeSearchText(session);
    return true;
  }

  private updateSession(session: Session): void {
    const columns = SESSION_COLUMNS.filter((c) => c !== "id");
    this.stmt(`UPDATE sessions SET ${columns.map((c) => `${c} = @${c}`).join(", ")} WHERE id = @id`).run(
      sessionToRow(session),
    );
    this.writeLabels(session);
    this.writeSearchText(session);
  }

  private updateScalars(s: Session): void {
    this.stmt(`UPDATE sessions SET ${SCALAR_COLUMNS.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`).run(...SCALAR_COLUMNS.map((c) => s[c]), s.id);
  }

  private writeLabels(session: Session): void {
    this.stmt("DELETE FROM session_labels WHERE session_id = ?").run(session.id);
    for (const [key, value] of Object.entries(session.labels)) {
      this.stmt("INSERT INTO session_labels (session_id, key, value, created_at) VALUES (?, ?, ?, ?)").run(
        session.id,
        key,
        value,
        session.created_at,
      );
    }
  }

  /**
   * What a search reads of the session (see the 0009 migration), rewritten only when it changed:
   * most updates leave the name and the task as they were.
   */
  private writeSearchText(session: Session): void {
    const text = searchText(session);
    this.stmt(
      `INSERT INTO session_search_text (session_id, name, task_head) VALUES (?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET name = excluded.name, task_head = excluded.task_head
       WHERE name <> excluded.name OR task_head <> excluded.task_head`,
    ).run(session.id, text.name, text.task_head);
  }

  getSession(id: string): Session | undefined {
    return this.readSessions([id])[0];
  }

  findSessionIds(query: NameQuery): string[] {
    const { sql, params } = sessionIdsByNameQuery(query, SQLITE_DIALECT);
    return this.stmt(sql).pluck().all(...params) as string[];
  }

  listSessions(filter: SessionFilter, page: { limit: number } & SessionPageRequest, held?: HeldSessions): SessionPage {
    // The page is chosen first as its order's keys alone, then only the rows the caller does not
    // hold are read, each joined to its newest event: the row's last_seq and last_activity_at lag
    // behind appends, which write no row.
    const order = listOrder(page);
    const after = cursorPosition(page.cursor, order);
    // A search reads no further than listScanRows sessions: where that is, an index walk finds first.
    const scan = searchScanQuery(filter, order, after, this.listScanRows, SQLITE_DIALECT);
    const through = scan && searchScanEnd(order, this.keyRows(scan));
    const keys = this.keyRows(sessionPageQuery(filter, order, { after, through }, page.limit, SQLITE_DIALECT));
    const assembly = pageOfKeys(keys, order, page.limit, held, through);
    return assembly.finish(this.readSessions(assembly.unheld));
  }

  private keyRows({ sql, params }: { sql: string; params: unknown[] }): unknown[][] {
    return this.stmt(sql).raw(true).all(...params) as unknown[][];
  }

  /** Sessions by id, each with its newest event, in no particular order; ids with no row are skipped. */
  private readSessions(ids: readonly string[]): Session[] {
    if (ids.length === 0) return [];
    const rows = this.stmt(
      `SELECT ${SESSION_SELECT} FROM sessions p
       LEFT JOIN events e ON e.pos = (SELECT pos FROM events WHERE skey = p.skey ORDER BY seq DESC LIMIT 1)
       WHERE p.id IN (${ids.map(() => "?").join(", ")})`,
    )
      .raw(true)
      .all(...ids) as unknown[][];
    return rows.map((values) => sessionFromRow(sessionRowFromValues(values)));
  }

  listEvents(sessionId: string, query: EventQuery): SessionEvent[] {
    const key = this.keyOf(sessionId);
    if (key === undefined) return [];
    const clauses = ["skey = ?", "seq > ?"];
    const params: unknown[] = [key, query.after_seq ?? 0];
    if (query.to_seq !== undefined) {
      clauses.push("seq <= ?");
      params.push(query.to_seq);
    }
    if (query.types?.length) {
      clauses.push(`type IN (${query.types.map(() => "?").join(", ")})`);
      params.push(...query.types);
    }
    const order = query.descending ? "DESC" : "ASC";
    const rows = this.stmt(
      `SELECT seq, ts, type, data FROM events WHERE ${clauses.join(" AND ")} ORDER BY seq ${order} LIMIT ?`,
    ).all(...params, query.limit ?? 100) as EventRow[];
    return rows.map(eventFromRow);
  }

  getCheckpoint(sessionId: string, checkpointId: string): Checkpoint | undefined {
    const row = this.stmt("SELECT * FROM checkpoints WHERE id = ? AND session_id = ?").get(checkpointId, sessionId) as
      | CheckpointRow
      | undefined;
    return row && checkpointFromRow(row);
  }

  listCheckpoints(sessionId: string, limit: number): Checkpoint[] {
    const rows = this.stmt("SELECT * FROM checkpoints WHERE session_id = ? ORDER BY seq ASC LIMIT ?").all(
      sessionId,
      limit,
    ) as CheckpointRow[];
    return rows.map(checkpointFromRow);
  }

  checkpointAtOrBefore(sessionId: string, seq: number): Checkpoint | undefined {
    const row = this.stmt(
      "SELECT * FROM checkpoints WHERE session_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
    ).get(sessionId, seq) as CheckpointRow | undefined;
    return row && checkpointFromRow(row);
  }

  stats(filter: SessionFilter): SessionStats {
    const scan = searchScanQuery(filter, listOrder({}), undefined, this.listScanRows, SQLITE_DIALECT);
    if (scan) assertSearchCountable(this.keyRows(scan), this.listScanRows);
    const q = sessionQuery(filter, SQLITE_DIALECT);
    const groups = this.stmt(
      `SELECT s.status, s.mode, s.kind, count(*) AS n, sum(s.iterations) AS iterations,
              sum(CASE WHEN s.ended_at IS NOT NULL THEN 1 ELSE 0 END) AS ended,
              sum(CASE WHEN s.ended_at IS NOT NULL
                       THEN (julianday(s.ended_at) - julianday(s.started_at)) * 86400000 ELSE 0 END) AS duration_ms
       ${q.from} ${q.where} GROUP BY s.status, s.mode, s.kind`,
    ).all(...q.params) as StatsGroup[];
    return statsFromGroups(groups);
  }

  countByStatus(): Partial<Record<SessionStatus, number>> {
    const rows = this.stmt("SELECT status, count(*) AS n FROM sessions GROUP BY status").all() as { status: SessionStatus; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  activity(sessionId: string): SessionActivity {
    const rows = this.stmt("SELECT type, count(*) AS n FROM events WHERE skey = ? GROUP BY type").all(this.keyOf(sessionId) ?? null) as {
      type: string;
      n: number;
    }[];
    const checkpoints = this.stmt("SELECT count(*) AS n FROM checkpoints WHERE session_id = ?").get(sessionId) as { n: number };
    return { events_by_type: Object.fromEntries(rows.map((r) => [r.type, r.n])), checkpoints: checkpoints.n };
  }

  listExpired(endedBy: string, limit: number): string[] {
    const rows = this.stmt(
      `SELECT id FROM sessions WHERE ended_at <= ? AND status IN ('completed', 'failed', 'timeout')
       ORDER BY ended_at LIMIT ?`,
    ).all(endedBy, limit) as { id: string }[];
    return rows.map((r) => r.id);
  }

  putWebhook(w: WebhookRecord): void {
    this.stmt(
      `INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, events = excluded.events, secret = excluded.secret`,
    ).run(w.id, w.url, JSON.stringify(w.events), w.secret, w.created_at);
  }

  listWebhooks(): WebhookRecord[] {
    const rows = this.stmt("SELECT * FROM webhooks ORDER BY created_at, id").all() as (Omit<WebhookRecord, "events"> & {
      events: string;
    })[];
    return rows.map((r) => ({ ...r, events: parseJson<string[]>(r.events) }));
  }

  deleteWebhook(id: string): boolean {
    return this.stmt("DELETE FROM webhooks WHERE id = ?").run(id).changes > 0;
  }

  close(): void {
    if (!this.db.open) return;
    if (!this.readOnly) this.db.pragma("optimize");
    this.db.close();
    this.onClose?.();
  }

  putWebhookDeliveries(deliveries: readonly WebhookDelivery[]): number {
    if (!deliveries.length) return 0;
    this.deliveryInsert ??= this.db.transaction((batch: readonly WebhookDelivery[]) => {
      const insert = this.stmt(
        `INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS.join(", ")}) VALUES (${DELIVERY_COLUMNS.map((c) => `@${c}`).join(", ")})
         ON CONFLICT (webhook_id, session_id, seq) DO NOTHING`,
      );
      let inserted = 0;
      for (const d of batch) inserted += insert.run(d).changes;
      return inserted;
    });
    return this.deliveryInsert.immediate(deliveries);
  }

  private deliveryInsert: Database.Transaction<(batch: readonly WebhookDelivery[]) => number> | undefined;

  claimDueWebhookDeliveries(now: string, leaseUntil: string, limit: number): WebhookDelivery[] {
    // One statement, so the pick and the lease are atomic; only the head of each (webhook,
    // session) queue may be picked, so one session's deliveries go out in seq order. RETURNING
    // has no order, hence the sort.
    const rows = this.stmt(
      `UPDATE webhook_deliveries SET next_attempt_at = ?
       WHERE id IN (SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND ${HEAD_OF_QUEUE}
                    ORDER BY d.next_attempt_at, d.id LIMIT ?)
       RETURNING *`,
    ).all(leaseUntil, now, limit) as WebhookDelivery[];
    return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  nextWebhookDeliveryAt(): string | undefined {
    const row = this.stmt(
      `SELECT d.next_attempt_at AS at FROM webhook_deliveries d WHERE d.status = 'pending' AND ${HEAD_OF_QUEUE}
       ORDER BY d.next_attempt_at LIMIT 1`,
    ).get() as { at: string } | undefined;
    return row?.at;
  }

  updateWebhookDelivery(u: WebhookDeliveryUpdate): void {
    this.stmt(
      `UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, last_error = ?, next_attempt_at = ?,
       delivered_at = ? WHERE id = ?`,
    ).run(u.status, u.attempts, u.last_status_code, u.last_error, u.next_attempt_at, u.delivered_at, u.id);
  }

  getWebhookDelivery(id: string): WebhookDelivery | undefined {
    return this.stmt("SELECT * FROM webhook_deliveries WHERE id = ?").get(id) as WebhookDelivery | undefined;
  }

  listWebhookDeliveries(webhookId: string, page: { limit: number } & PageRequest): Page<WebhookDelivery> {
    // The cursor is the id of the last delivery of the previous page (ids sort by creation).
    const rows = this.stmt(
      `SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?`,
    ).all(webhookId, page.cursor ?? null, page.cursor ?? null, page.limit + 1) as WebhookDelivery[];
    const more = rows.length > page.limit;
    const items = more ? rows.slice(0, page.limit) : rows;
    return { items, next_cursor: more ? items.at(-1)!.id : null };
  }

  pruneWebhookDeliveries(createdBefore: string): number {
    return this.stmt("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?").run(createdBefore).changes;
  }

  // ---- exec output and the global feed (streams) ----------------------------

  appendOutput(records: readonly OutputRecord[]): number[] {
    if (!records.length) return [];
    this.appendOutputTx ??= this.db.transaction((batch: readonly OutputRecord[]) => {
      const insert = this.stmt('INSERT INTO exec_output (session_id, exec_id, stream, "offset", data) VALUES (?, ?, ?, ?, ?)');
      return batch.map((r) => Number(insert.run(r.session_id, r.exec_id, r.stream, r.offset, r.data).lastInsertRowid));
    });
    return this.appendOutputTx.immediate(records);
  }

  listOutput(sessionId: string, afterPos: number, limit: number): StoredOutput[] {
    return this.stmt(
      'SELECT pos, session_id, exec_id, stream, "offset", data FROM exec_output WHERE session_id = ? AND pos > ? ORDER BY pos LIMIT ?',
    ).all(sessionId, afterPos, limit) as StoredOutput[];
  }

  execOutputExtent(execId: string): ExecOutputExtent | undefined {
    const row = this.stmt(
      `SELECT session_id, MIN(pos) AS first_pos, MAX(pos) AS last_pos,
         COALESCE(MAX(CASE WHEN stream = 'stdout' THEN "offset" + length(data) END), 0) AS stdout_bytes,
         COALESCE(MAX(CASE WHEN stream = 'stderr' THEN "offset" + length(data) END), 0) AS stderr_bytes
       FROM exec_output WHERE exec_id = ?`,
    ).get(execId) as (ExecOutputExtent & { first_pos: number | null }) | undefined;
    return row && row.first_pos !== null ? row : undefined;
  }

  outputPosAt(execId: string, stream: OutputStreamName, offset: number): number | undefined {
    const row = this.stmt(
      `SELECT pos, "offset" + length(data) AS end FROM exec_output
       WHERE exec_id = ? AND stream = ? AND "offset" <= ? ORDER BY "offset" DESC LIMIT 1`,
    ).get(execId, stream, offset) as { pos: number; end: number } | undefined;
    return row && row.end > offset ? row.pos : undefined;
  }

  listFeed(afterPos: number, limit: number): FeedEntry[] {
    const rows = this.stmt(
      `SELECT e.pos, s.id AS session_id, s.kind, s.agent_id, s.user_id, e.seq, e.ts, e.type, e.data
       FROM events e
       JOIN sessions s ON s.skey = e.skey
       WHERE e.pos > ? ORDER BY e.pos LIMIT ?`,
    ).all(afterPos, limit) as (EventRow & { pos: number; session_id: string; kind: string; agent_id: string | null; user_id: string | null })[];
    return rows.map((r) => ({ pos: r.pos, session_id: r.session_id, kind: r.kind, agent_id: r.agent_id, user_id: r.user_id, event: eventFromRow(r) }));
  }

  feedHead(): number {
    return this.newestPos();
  }

  private newestPos(): number {
    return (this.stmt("SELECT max(pos) AS pos FROM events").get() as { pos: number | null }).pos ?? 0;
  }

  /**
   * Deletes a session's events. Positions are rowids, which SQLite hands out as the newest + 1:
   * when the newest event goes, a placeholder row (skey 0: no session's) keeps its position, so
   * a feed client that saw it never misses the event that would otherwise reuse it.
   */
  private deleteEvents(key: number): void {
    const newest = this.newestPos();
    this.stmt("DELETE FROM events WHERE skey = ?").run(key);
    if (newest > this.newestPos()) {
      this.stmt("INSERT INTO events (pos, skey, seq, ts, type, data) VALUES (?, 0, ?, '', 'placeholder', '{}')").run(newest, newest);
    }
  }

  /**
   * The session's integer key (events refer to their session by it), or undefined for a session
   * not in the store. Cached: an append looks it up for every event.
   */
  private keyOf(sessionId: string): number | undefined {
    let key = this.readOnly ? undefined : this.keys.get(sessionId);
    if (key === undefined) {
      key = (this.stmt("SELECT skey FROM sessions WHERE id = ?").get(sessionId) as { skey: number } | undefined)?.skey;
      if (key !== undefined && !this.readOnly) this.keys.set(sessionId, key);
    }
    return key;
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}

/**
 * Whether pending delivery `d` heads its (webhook, session) queue: no earlier event of its
 * session is still pending for its webhook (in flight, backing off, or not yet tried). The probe
 * runs on the (webhook_id, session_id, seq) unique index.
 */
const HEAD_OF_QUEUE = `NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
  AND e.session_id = d.session_id AND e.seq < d.seq AND e.status = 'pending')`;

/** Column order of the delivery insert (every field of a WebhookDelivery). */
const DELIVERY_COLUMNS = [
  "id", "webhook_id", "event", "session_id", "seq", "status", "attempts", "last_status_code", "last_error",
  "next_attempt_at", "created_at", "delivered_at", "body",
] as const;

