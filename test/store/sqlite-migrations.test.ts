import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { TASK_SEARCH_CHARS } from "../../src/core/index.js";
import { migrate, shippedMigrations } from "../../src/store/sqlite/migrate.js";
import { searchText } from "../../src/store/sql-filter.js";

describe("SQLite migrations", () => {
  let db: Database.Database;
  afterEach(() => db.close());

  it("applies every shipped migration once and records it", () => {
    db = new Database(":memory:");
    const versions = shippedMigrations().map((m) => m.version);
    expect(migrate(db)).toEqual(versions);
    expect(migrate(db)).toEqual([]);
    const recorded = db.prepare("SELECT version FROM schema_migrations ORDER BY version").all() as { version: number }[];
    expect(recorded.map((r) => r.version)).toEqual(versions);
  });

  it("names files NNNN_what.sql in an unbroken sequence from 1", () => {
    const versions = shippedMigrations().map((m) => m.version);
    expect(versions).toEqual(versions.map((_, i) => i + 1));
  });

  it("gives labels written before 0003 their session's created_at", () => {
    db = new Database(":memory:");
    const all = shippedMigrations();
    migrate(db, all.filter((m) => m.version < 3));
    db.prepare(
      `INSERT INTO sessions (id, name, kind, labels, status, iterations, context, runtime_backend, runtime_metadata, server,
         metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version)
       VALUES ('s1', 's1', 'agent', '{"team":"core"}', 'active', 0, '{}', 'unknown', '{}', 'local', '{}',
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0, 1)`,
    ).run();
    db.prepare("INSERT INTO session_labels (session_id, key, value) VALUES ('s1', 'team', 'core')").run();
    expect(migrate(db, all)).toEqual(all.filter((m) => m.version >= 3).map((m) => m.version));
    expect(db.prepare("SELECT created_at FROM session_labels").get()).toEqual({ created_at: "2026-01-01T00:00:00.000Z" });
  });

  it("moves events to positions in 0005, keeping each event's feed position and never reusing a deleted one", () => {
    db = new Database(":memory:");
    const all = shippedMigrations();
    migrate(db, all.filter((m) => m.version < 5));
    const insertSession = db.prepare(
      `INSERT INTO sessions (id, name, kind, labels, status, iterations, context, runtime_backend, runtime_metadata, server,
         metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version)
       VALUES (?, ?, 'agent', '{}', 'active', 0, '{}', 'unknown', '{}', 'local', '{}',
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0, 1)`,
    );
    const insertEvent = db.prepare("INSERT INTO events (session_id, seq, ts, type, data) VALUES (?, ?, '2026-01-01T00:00:00.000Z', ?, '{}')");
    insertSession.run("s1", "one");
    insertSession.run("s2", "two");
    // Interleaved, so feed order differs from (session, seq) order.
    insertEvent.run("s1", 1, "start");
    insertEvent.run("s2", 1, "start");
    insertEvent.run("s1", 2, "note");
    insertEvent.run("s2", 2, "note");
    insertEvent.run("s2", 3, "gone");
    db.prepare("DELETE FROM events WHERE session_id = 's2' AND seq = 3").run();
    db.prepare("DELETE FROM event_feed WHERE session_id = 's2' AND seq = 3").run();

    expect(migrate(db, all)).toEqual(all.filter((m) => m.version >= 5).map((m) => m.version));
    const rows = db.prepare("SELECT e.pos, s.id, e.seq, e.type FROM events e JOIN sessions s ON s.skey = e.skey ORDER BY e.pos").all();
    expect(rows).toEqual([
      { pos: 1, id: "s1", seq: 1, type: "start" },
      { pos: 2, id: "s2", seq: 1, type: "start" },
      { pos: 3, id: "s1", seq: 2, type: "note" },
      { pos: 4, id: "s2", seq: 2, type: "note" },
    ]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('event_feed', 'event_feed_append')").all()).toEqual([]);
    db.prepare("INSERT INTO events (skey, seq, ts, type, data) VALUES (1, 3, 'now', 'after', '{}')").run();
    expect(db.prepare("SELECT pos FROM events WHERE type = 'after'").get()).toEqual({ pos: 6 });
  });

  it("makes names unique per agent_id in 0006, keeping every session row, its key, its events and the output trigger", () => {
    db = new Database(":memory:");
    const all = shippedMigrations();
    migrate(db, all.filter((m) => m.version < 6));
    const insertSession = db.prepare(
      `INSERT INTO sessions (id, name, kind, agent_id, labels, status, iterations, context, runtime_backend, runtime_metadata, server,
         metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version, skey)
       VALUES (?, ?, 'agent', ?, '{}', 'active', 0, '{}', 'unknown', '{}', 'local', '{}',
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0, 1, ?)`,
    );
    insertSession.run("s1", "build", "agent-a", 7);
    insertSession.run("s2", "deploy", null, 9);
    db.prepare("INSERT INTO events (skey, seq, ts, type, data) VALUES (7, 1, 'now', 'start', '{}')").run();
    db.prepare(`INSERT INTO exec_output (session_id, exec_id, stream, "offset", data) VALUES ('s1', 'e1', 'stdout', 0, x'61')`).run();
    const before = db.prepare("SELECT * FROM sessions ORDER BY id").all();

    const upTo6 = all.filter((m) => m.version <= 6);
    expect(migrate(db, upTo6)).toEqual([6]);
    expect(db.prepare("SELECT * FROM sessions ORDER BY id").all()).toEqual(before);
    expect(db.prepare("SELECT e.seq FROM events e JOIN sessions s ON s.skey = e.skey WHERE s.id = 's1'").all()).toEqual([{ seq: 1 }]);
    insertSession.run("s3", "build", "agent-b", 10);
    insertSession.run("s4", "build", null, 11);
    expect(() => insertSession.run("s5", "build", "agent-a", 12)).toThrow(/UNIQUE/);
    expect(() => insertSession.run("s6", "deploy", "", 13)).toThrow(/UNIQUE/);
    expect(() => insertSession.run("s7", "other", null, 7)).toThrow(/UNIQUE/);
    db.prepare("DELETE FROM sessions WHERE id = 's1'").run();
    expect(db.prepare("SELECT count(*) AS n FROM exec_output").get()).toEqual({ n: 0 });
  });

  it("gives sessions stored before 0007 their agent_id and user_id as participants, and nobody to a session without them", () => {
    db = new Database(":memory:");
    const all = shippedMigrations();
    migrate(db, all.filter((m) => m.version < 7));
    const insertSession = db.prepare(
      `INSERT INTO sessions (id, name, kind, agent_id, user_id, labels, status, iterations, context, runtime_backend, runtime_metadata, server,
         metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version, skey)
       VALUES (?, ?, 'agent', ?, ?, '{}', 'active', 0, '{}', 'unknown', '{}', 'local', '{}',
         ?, '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z', 0, 1, ?)`,
    );
    insertSession.run("s1", "both", "claude", "joel", "2026-01-01T00:00:00.000Z", 1);
    insertSession.run("s2", "agent-only", "claude", null, "2026-01-02T00:00:00.000Z", 2);
    insertSession.run("s3", "user-only", "", "ana", "2026-01-03T00:00:00.000Z", 3);
    insertSession.run("s4", "nobody", null, null, "2026-01-04T00:00:00.000Z", 4);

    expect(migrate(db, all)).toEqual(all.filter((m) => m.version >= 7).map((m) => m.version));
    const participants = (id: string) => JSON.parse((db.prepare("SELECT participants FROM sessions WHERE id = ?").get(id) as { participants: string }).participants);
    expect(participants("s1")).toEqual([
      { kind: "ai", id: "claude", joined_at: "2026-01-01T00:00:00.000Z" },
      { kind: "human", id: "joel", joined_at: "2026-01-01T00:00:00.000Z" },
    ]);
    expect(participants("s2")).toEqual([{ kind: "ai", id: "claude", joined_at: "2026-01-02T00:00:00.000Z" }]);
    expect(participants("s3")).toEqual([{ kind: "human", id: "ana", joined_at: "2026-01-03T00:00:00.000Z" }]);
    expect(participants("s4")).toEqual([]);
  });

  it("fills 0009's search text of the sessions there are as the store writes it: name and task head, ASCII letters lowercased", () => {
    db = new Database(":memory:");
    const all = shippedMigrations();
    migrate(db, all.filter((m) => m.version < 9));
    const insertSession = db.prepare(
      `INSERT INTO sessions (id, name, kind, labels, task, status, iterations, context, runtime_backend, runtime_metadata, server,
         metadata, created_at, updated_at, started_at, last_activity_at, last_seq, version, skey)
       VALUES (?, ?, 'agent', '{}', ?, 'active', 0, '{}', 'unknown', '{}', 'local', '{}',
         '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0, 1, ?)`,
    );
    const sessions = [
      { id: "s1", name: "École-BUILD", task: `Ça VA ${"😀".repeat(TASK_SEARCH_CHARS)} past` },
      { id: "s2", name: "no-task", task: null },
      { id: "s3", name: "Short", task: "Fix IT" },
    ];
    sessions.forEach((s, i) => insertSession.run(s.id, s.name, s.task, i + 1));
    migrate(db, all);
    for (const s of sessions) {
      expect(db.prepare("SELECT name, task_head FROM session_search_text WHERE session_id = ?").get(s.id), s.id).toEqual(searchText(s));
    }
  });

  it("refuses a database written by a newer sessiond", () => {
    db = new Database(":memory:");
    migrate(db);
    db.prepare("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 'now')").run();
    expect(() => migrate(db)).toThrow(/newer than this sessiond/);
  });

  it("indexes every session list filter", () => {
    db = new Database(":memory:");
    migrate(db);
    const indexed = (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL").all() as {
      sql: string;
    }[]).map((r) => r.sql);
    for (const column of ["agent_id", "user_id", "channel_id", "status", "kind", "type", "mode", "created_at"]) {
      expect(indexed.some((sql) => sql.includes(`(${column},`))).toBe(true);
    }
  });
});
