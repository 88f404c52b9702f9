import type { Session, SessionKind, SessionStatus } from "../../src/core/index.js";
import { dataPaths } from "../../src/core/index.js";
import { newSessionRecord } from "../../src/engine/records.js";
import { type WriteOp, openSqliteStore } from "../../src/store/index.js";
import { benchConfig, log, msSince, openRaw, pick, rng, tempDir } from "../lib.js";

/** 500 agents; the big store spreads its sessions over these lists, and filters draw from them. */
export const AGENTS = Array.from({ length: 500 }, (_, i) => `agent-${i}`);
/** 2,000 users. */
export const USERS = Array.from({ length: 2_000 }, (_, i) => `user-${i}`);
/** 10 modes (agent roles). */
export const MODES = ["developer", "reviewer", "planner", "tester", "writer", "researcher", "ops", "support", "analyst", "designer"];
/** 20 teams, the values of the `team` label. */
export const TEAMS = Array.from({ length: 20 }, (_, i) => `team-${i}`);
const STATUSES: readonly SessionStatus[] = ["active", "paused", "completed", "failed", "timeout", "crashed"];
/** Weights of STATUSES: most sessions have ended, a good share still runs. */
const STATUS_WEIGHTS = [0.2, 0.1, 0.45, 0.1, 0.1, 0.05];
const DAY_MS = 86_400_000;
const EVENT_TYPES = ["iteration", "tool_call", "note", "context_update", "tool_call"] as const;

/** A store of many sessions and their events, built once per run and shared by figures 4 and 6. */
export interface BigStore {
  readonly home: string;
  readonly database: string;
  readonly sessions: number;
  readonly events: number;
  /** A few ids spread over the table, for first gets. */
  readonly sampleIds: readonly string[];
  /** The newest created_at, the upper end of the 90-day spread. */
  readonly newest: number;
  readonly buildMs: number;
}

function pickStatus(random: () => number): SessionStatus {
  let r = random();
  for (let i = 0; i < STATUSES.length; i++) {
    r -= STATUS_WEIGHTS[i]!;
    if (r < 0) return STATUSES[i]!;
  }
  return "completed";
}

/**
 * Builds `sessions` realistic sessions (through the store's own commit, in big batches) with
 * `eventsPerSession` events each (raw inserts into the same schema, in big transactions), and
 * keeps every session's last_seq and last_activity_at consistent with its events.
 */
export function buildBigStore(sessions: number, eventsPerSession: number): BigStore {
  const start = process.hrtime.bigint();
  const home = tempDir("big-store");
  const config = benchConfig(home, { sqliteSynchronous: "normal" });
  const random = rng(20261123);
  const newest = Date.UTC(2026, 10, 23, 12, 0, 0);
  const store = openSqliteStore(config);
  const sync = store.sync!;
  const eventsPlan: { id: string; createdMs: number }[] = [];
  const BATCH = 5_000;
  let ops: WriteOp[] = [];
  for (let i = 0; i < sessions; i++) {
    const createdMs = newest - Math.floor(random() * 90 * DAY_MS);
    const created = new Date(createdMs).toISOString();
    const status = pickStatus(random);
    const mode = pick(random, MODES);
    const kind: SessionKind = random() < 0.9 ? "agent" : random() < 0.6 ? "shell" : "python";
    const labels: Record<string, string> = {};
    if (random() < 0.3) {
      labels.team = pick(random, TEAMS);
      if (random() < 0.5) labels.env = random() < 0.7 ? "prod" : "staging";
    }
    const base = newSessionRecord(
      {
        name: `${mode}-${i}`,
        kind,
        mode,
        type: random() < 0.5 ? "task" : "conversation",
        agent_id: pick(random, AGENTS),
        user_id: pick(random, USERS),
        channel_id: `channel-${Math.floor(random() * 300)}`,
        labels,
        task: `Work item ${i}: refactor module ${i % 97} and keep the tests green`,
        max_iterations: 50,
        context: { goal: "ship it", step: i % 40, files: [`src/mod-${i % 97}.ts`, `test/mod-${i % 97}.test.ts`] },
        metadata: { model: "sonnet", tokens: (i * 7919) % 200_000 },
      },
      created,
      config,
    );
    const lastActivity = new Date(createdMs + eventsPerSession * 1000).toISOString();
    const ended = status === "completed" || status === "failed" || status === "timeout";
    const session: Session = {
      ...base,
      status,
      iterations: Math.floor(eventsPerSession / 3),
      updated_at: lastActivity,
      ended_at: ended ? lastActivity : null,
      error: status === "failed" ? "tests failed" : null,
      last_activity_at: lastActivity,
      last_seq: eventsPerSession,
    };
    eventsPlan.push({ id: session.id, createdMs });
    ops.push({ op: "put_session", session, insert: true, scalarsOnly: false });
    if (ops.length === BATCH) {
      if (sync.commit(ops).rejected.length) throw new Error("big store: a session insert was refused");
      ops = [];
    }
  }
  if (ops.length && sync.commit(ops).rejected.length) throw new Error("big store: a session insert was refused");
  sync.close();
  const sessionsMs = msSince(start);

  const db = openRaw(dataPaths(config).database, ["journal_mode = WAL", "synchronous = OFF"]);
  const insert = db.prepare("INSERT INTO events (skey, seq, ts, type, data) VALUES ((SELECT skey FROM sessions WHERE id = ?), ?, ?, ?, ?)");
  const insertChunk = db.transaction((chunk: readonly { id: string; createdMs: number }[]) => {
    for (const { id, createdMs } of chunk) {
      for (let seq = 1; seq <= eventsPerSession; seq++) {
        const ts = new Date(createdMs + seq * 1000).toISOString();
        const type = seq === 1 ? "start" : EVENT_TYPES[seq % EVENT_TYPES.length]!;
        const data =
          seq === 1
            ? `{"kind":"agent","type":"task","mode":"developer","task":"Work item","context":{"goal":"ship it"}}`
            : `{"tool":"read_file","args":{"path":"src/mod-${seq}.ts"},"ok":true,"ms":${seq * 3}}`;
        insert.run(id, seq, ts, type, data);
      }
    }
  });
  // Sessions got their keys in creation order, so inserting in that order appends to the events index.
  const CHUNK = 10_000;
  for (let i = 0; i < eventsPlan.length; i += CHUNK) insertChunk.immediate(eventsPlan.slice(i, i + CHUNK));
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  const buildMs = msSince(start);
  log(
    `built store: ${sessions.toLocaleString("en-US")} sessions (${(sessionsMs / 1000).toFixed(1)} s) + ` +
      `${(sessions * eventsPerSession).toLocaleString("en-US")} events, ${(buildMs / 1000).toFixed(1)} s`,
  );
  const sampleIds = [0.5, 0.1, 0.9, 0.33, 0.77].map((f) => eventsPlan[Math.floor(f * (eventsPlan.length - 1))]!.id);
  return {
    home,
    database: dataPaths(config).database,
    sessions,
    events: sessions * eventsPerSession,
    sampleIds,
    newest,
    buildMs,
  };
}
