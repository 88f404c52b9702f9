import type pg from "pg";
import { jsonText } from "../../core/index.js";
import type { Session, SessionEvent } from "../../core/index.js";
import { SCALAR_COLUMNS, SESSION_COLUMNS, sessionToRow } from "../rows.js";
import type { CommitFence, CommitResult, WriteOp } from "../store.js";
import { fencedSessions, forgetOwner } from "./cluster.js";
import { COMMITS_CHANNEL, LOCKS, changes, lock, rows, transaction } from "./db.js";

/** One event of a run of appends, with the session it belongs to. */
interface PendingEvent {
  readonly sessionId: string;
  readonly event: SessionEvent;
  /** Its data's JSON text, when its writer built it so (see WriteOp). */
  readonly text: string | undefined;
}

/**
 * Applies a group-commit batch in order, in one transaction: all of it or none of it. An insert
 * refused because the id or name is taken rejects its session, and that session's other ops in
 * the batch are skipped (the same rule as the SQLite store).
 */
export async function commitBatch(pool: pg.Pool, ops: readonly WriteOp[], fence?: CommitFence): Promise<CommitResult> {
  if (!ops.length) return { rejected: [] };
  return transaction(pool, async (tx) => {
    const appends = ops.some((op) => op.op === "append_event" || op.op === "delete_session");
    if (appends) await lockFeed(tx);
    // A fenced session's writes are skipped like a refused insert's: the rest of the batch commits.
    const fenced = fence ? await fencedSessions(tx, fence) : [];
    const skipped = new Set(fenced);
    const rejected: string[] = [];
    // Consecutive appends go in as one statement; any other op first writes the run before it,
    // so the batch still applies in order.
    let run: PendingEvent[] = [];
    const writeRun = async () => {
      if (run.length) await insertEvents(tx, run);
      run = [];
    };
    for (const op of ops) {
      const sessionId = op.op === "put_session" ? op.session.id : op.op === "put_checkpoint" ? op.checkpoint.session_id : op.session_id;
      if (skipped.size && skipped.has(sessionId)) continue;
      if (op.op === "append_event") {
        run.push({ sessionId, event: op.event, text: op.text });
        continue;
      }
      await writeRun();
      switch (op.op) {
        case "put_session":
          if (op.insert) {
            if (!(await insertSession(tx, op.session))) {
              rejected.push(sessionId);
              skipped.add(sessionId);
            }
          } else if (op.scalarsOnly) {
            await updateScalars(tx, op.session);
          } else {
            await updateSession(tx, op.session);
          }
          break;
        case "put_checkpoint": {
          const c = op.checkpoint;
          await tx.query(
            "INSERT INTO checkpoints (id, session_id, seq, label, data, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [c.id, c.session_id, c.seq, c.label, jsonText(c.data), jsonText(c.state), c.created_at],
          );
          break;
        }
        case "delete_session":
          await deleteSession(tx, op.session_id);
          break;
      }
    }
    await writeRun();
    // Other nodes' feeds read the new rows when told (commit-notices.ts); sent at commit, so a
    // listener never reads before the rows are visible.
    if (appends) await tx.query("SELECT pg_notify($1, current_schema())", [COMMITS_CHANNEL]);
    return fenced.length ? { rejected, fenced } : { rejected };
  });
}

/**
 * Event positions are the feed's order, and feed readers page "after position N". A position is
 * drawn from the identity when a row is inserted but becomes visible only at commit, so two
 * transactions appending at once could commit out of position order, and a reader that already
 * read past the later position would skip the earlier one for good. Every transaction that adds
 * or removes events therefore takes this lock first (before drawing a position), and holds it to
 * its commit: positions become visible strictly in order. The engine commits one batch at a time
 * per node, so on one node the lock is never waited for; it also keeps several nodes (or a
 * deletion racing an append) correct.
 */
async function lockFeed(tx: pg.PoolClient): Promise<void> {
  await lock(tx, LOCKS.feed);
}

/** Inserts a session and its labels; false when its id or name is taken. */
async function insertSession(tx: pg.PoolClient, session: Session): Promise<boolean> {
  const row = sessionToRow(session);
  const inserted = await changes(
    tx,
    `INSERT INTO sessions (${SESSION_COLUMNS.join(", ")}) VALUES (${SESSION_COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})
     ON CONFLICT DO NOTHING`,
    SESSION_COLUMNS.map((c) => row[c]),
  );
  if (inserted === 0) return false;
  await insertLabels(tx, session);
  return true;
}

async function updateSession(tx: pg.PoolClient, session: Session): Promise<void> {
  const row = sessionToRow(session);
  const columns = SESSION_COLUMNS.filter((c) => c !== "id");
  await tx.query(`UPDATE sessions SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(", ")} WHERE id = $1`, [
    row.id,
    ...columns.map((c) => row[c]),
  ]);
  await tx.query("DELETE FROM session_labels WHERE session_id = $1", [session.id]);
  await insertLabels(tx, session);
}

async function updateScalars(tx: pg.PoolClient, s: Session): Promise<void> {
  await tx.query(`UPDATE sessions SET ${SCALAR_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(", ")} WHERE id = $1`, [s.id, ...SCALAR_COLUMNS.map((c) => s[c])]);
}

async function insertLabels(tx: pg.PoolClient, session: Session): Promise<void> {
  const labels = Object.entries(session.labels);
  if (!labels.length) return;
  await tx.query(
    `INSERT INTO session_labels (session_id, key, value, created_at)
     SELECT $1, key, value, $2 FROM unnest($3::text[], $4::text[]) AS l(key, value)`,
    [session.id, session.created_at, labels.map(([key]) => key), labels.map(([, value]) => value)],
  );
}

/**
 * Inserts a run of events in one statement, in the run's order: positions are drawn after the
 * sort (PostgreSQL evaluates the identity default of an INSERT … SELECT … ORDER BY row by row in
 * that order), so they follow the batch. An event of a session not in the store fails the batch,
 * as the SQLite store's NOT NULL key does.
 */
async function insertEvents(tx: pg.PoolClient, run: readonly PendingEvent[]): Promise<void> {
  const inserted = await changes(
    tx,
    `INSERT INTO events (skey, seq, ts, type, data)
     SELECT s.skey, e.seq, e.ts, e.type, e.data
     FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(session_id, seq, ts, type, data, n)
     JOIN sessions s ON s.id = e.session_id
     ORDER BY e.n`,
    [
      run.map((p) => p.sessionId),
      run.map((p) => p.event.seq),
      run.map((p) => p.event.ts),
      run.map((p) => p.event.type),
      run.map((p) => p.text ?? jsonText(p.event.data)),
    ],
  );
  if (inserted !== run.length) {
    const known = new Set((await rows<{ id: string }>(tx, "SELECT id FROM sessions WHERE id = ANY($1::text[])", [run.map((p) => p.sessionId)])).map((r) => r.id));
    const missing = run.find((p) => !known.has(p.sessionId))?.sessionId;
    // The SQLSTATE of a foreign key violation, which this is: the write is to blame, not the store
    // (see refusedWriteError), as for the SQLite store's NOT NULL key.
    throw Object.assign(new Error(`cannot append an event to session ${missing ?? "(unknown)"}: it is not in the store`), { code: "23503" });
  }
}

/**
 * Deletes a session with its events, checkpoints, labels and exec output. When it held the newest
 * event, a placeholder row (skey 0: no session's) keeps that position as the feed's head, so a
 * feed client that saw it keeps its place (`feedHead` never goes back). Runs under the feed lock.
 */
async function deleteSession(tx: pg.PoolClient, sessionId: string): Promise<void> {
  const newestPos = async () => (await rows<{ pos: number | null }>(tx, "SELECT max(pos) AS pos FROM events"))[0]?.pos ?? 0;
  const newest = await newestPos();
  await tx.query("DELETE FROM events WHERE skey = (SELECT skey FROM sessions WHERE id = $1)", [sessionId]);
  for (const table of ["checkpoints", "session_labels", "exec_output"]) {
    await tx.query(`DELETE FROM ${table} WHERE session_id = $1`, [sessionId]);
  }
  await tx.query("DELETE FROM sessions WHERE id = $1", [sessionId]);
  await forgetOwner(tx, sessionId);
  if (newest > (await newestPos())) {
    await tx.query("INSERT INTO events (pos, skey, seq, ts, type, data) VALUES ($1, 0, $1, '', 'placeholder', '{}')", [newest]);
  }
}
