import { afterEach, beforeEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { type Config, type Session, SessiondError, dataPaths, isSessiondError } from "../../src/core/index.js";
import { type CommitObservation, type SessionChange, SessionManager } from "../../src/engine/index.js";
import { type Store, openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

/** Resolves to the error a promise rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<SessiondError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(outcome instanceof SessiondError)) throw new Error(`expected a SessiondError, got ${String(outcome)}`);
  return outcome;
}

describe("SessionManager", () => {
  let home: ReturnType<typeof tempHome>;
  let manager: SessionManager;
  let commits: CommitObservation[];
  let changes: SessionChange[];

  const open = (config: Config = home.config, store: Store = openSqliteStore(config)) => {
    const m = new SessionManager({ store, config, observeCommit: (c) => commits.push(c) });
    m.bus.subscribe((c) => changes.push(c));
    return m;
  };

  beforeEach(() => {
    home = tempHome();
    commits = [];
    changes = [];
    manager = open();
  });
  afterEach(async () => {
    await manager.close();
    home.remove();
  });

  describe("create", () => {
    it("creates an active session with a readable generated name and a start event", async () => {
      const s = await manager.create({ mode: "developer", task: "Implement X", context: { a: 1 } });
      expect(s).toMatchObject({ status: "active", kind: "agent", version: 1, last_seq: 1, iterations: 0, max_iterations: null });
      expect(s.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      expect(s.name).toMatch(/^developer-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
      const [start] = await manager.listEvents(s.id);
      expect(start).toMatchObject({ seq: 1, type: "start", data: { task: "Implement X", context: { a: 1 } } });
    });

    it("lets exactly one of two concurrent creates with the same name win", async () => {
      const results = await Promise.allSettled([manager.create({ name: "twin" }), manager.create({ name: "twin" })]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: "conflict", field: "name" });
      expect((await manager.list({})).items).toHaveLength(1);
    });

    it("refuses a name already used by a session that is no longer in memory", async () => {
      await manager.create({ name: "cold" });
      await manager.close();
      manager = open();
      expect((await failure(manager.create({ name: "cold" }))).code).toBe("conflict");
    });

    it("keeps a caller's id (imports) and refuses a duplicate id", async () => {
      await manager.create({ id: "session_abc123_xyz" });
      expect((await manager.get("session_abc123_xyz")).id).toBe("session_abc123_xyz");
      expect((await failure(manager.create({ id: "session_abc123_xyz" }))).field).toBe("id");
    });

    it("takes a private copy of the caller's context", async () => {
      const context = { list: [1] };
      const s = await manager.create({ context });
      context.list.push(2);
      expect((await manager.get(s.id)).context).toEqual({ list: [1] });
    });
  });

  describe("bad input", () => {
    it.each([
      [{ status: "exploded" }, "status"],
      [{ max_iterations: -1 }, "max_iterations"],
      [{ max_iterations: 2.5 }, "max_iterations"],
      [{ context: [1, 2] }, "context"],
      [{ context: "text" }, "context"],
      [{ context: null }, "context"],
      [{ labels: { env: 3 } }, "labels.env"],
      [{ labels: { "bad key": "x" } }, "labels.bad key"],
      [{ surprise: true }, "surprise"],
    ])("refuses update %j naming the field %s, and changes nothing", async (input, field) => {
      const s = await manager.create({ context: { keep: 1 } });
      const err = await failure(manager.update(s.id, input as never));
      expect(err).toMatchObject({ code: "validation", field, status: 400 });
      expect(await manager.get(s.id)).toEqual(s);
    });

    it("refuses a context over the cap with too_large naming the field", async () => {
      manager = open(tempHome({ maxContextBytes: 1000 }).config);
      const big = { blob: "x".repeat(2000) };
      expect(await failure(manager.create({ context: big }))).toMatchObject({ code: "too_large", field: "context", status: 413 });
      const s = await manager.create({});
      expect(await failure(manager.update(s.id, { context: big }))).toMatchObject({ code: "too_large", field: "context" });
      expect(await failure(manager.update(s.id, { context_patch: big }))).toMatchObject({ code: "too_large" });
      expect((await manager.get(s.id)).version).toBe(1);
    });

    it("refuses an event with no type, or a type that only the engine records", async () => {
      const s = await manager.create({});
      expect(await failure(manager.appendEvent(s.id, ""))).toMatchObject({ code: "validation", field: "type" });
      expect(await failure(manager.appendEvent(s.id, undefined as never))).toMatchObject({ field: "type" });
      expect(await failure(manager.appendEvent(s.id, "pause"))).toMatchObject({ field: "type" });
      expect(await failure(manager.appendEvent(s.id, "note", [1] as never))).toMatchObject({ field: "data" });
      expect((await manager.get(s.id)).last_seq).toBe(1);
    });

    it("names both states of an illegal transition", async () => {
      const s = await manager.create({});
      await manager.complete(s.id, "done");
      const err = await failure(manager.pause(s.id));
      expect(err).toMatchObject({ code: "invalid_transition", status: 409 });
      expect(err.message).toBe("cannot pause a session that is completed (to paused)");
      // A move to where it is already says so, not "completed (to completed)".
      expect((await failure(manager.complete(s.id, "again"))).message).toBe("cannot complete a session that is completed already");
    });

    it("answers not_found for an unknown id or name", async () => {
      expect(await failure(manager.get("missing"))).toMatchObject({ code: "not_found", status: 404 });
      expect(await failure(manager.appendEvent("missing", "note"))).toMatchObject({ code: "not_found" });
      expect(await manager.find("0190c0de-0000-7000-8000-000000000000")).toBeUndefined();
    });

    it("refuses a write at a stale version with version_conflict", async () => {
      const s = await manager.create({});
      await manager.update(s.id, { task: "v2" }, { expected_version: 1 });
      expect(await failure(manager.update(s.id, { task: "v3" }, { expected_version: 1 }))).toMatchObject({
        code: "version_conflict",
        status: 412,
      });
      expect((await manager.get(s.id)).task).toBe("v2");
    });
  });

  describe("updates", () => {
    it("replaces context with `context` and merges with `context_patch` (RFC 7396)", async () => {
      const s = await manager.create({ context: { a: 1, nested: { x: 1, y: 2 } } });
      const merged = await manager.update(s.id, { context_patch: { nested: { y: null, z: 3 }, b: 2 } });
      expect(merged.context).toEqual({ a: 1, b: 2, nested: { x: 1, z: 3 } });
      const replaced = await manager.update(s.id, { context: { only: true } });
      expect(replaced.context).toEqual({ only: true });
      expect(replaced.version).toBe(3);
    });

    it("moves status through the machine and treats an unchanged status as a no-op", async () => {
      const s = await manager.create({});
      expect((await manager.update(s.id, { status: "active" })).version).toBe(1);
      expect((await manager.update(s.id, { status: "crashed" })).status).toBe("crashed");
      const recovered = await manager.update(s.id, { status: "active" });
      expect(recovered.status).toBe("active");
      const types = (await manager.listEvents(s.id)).map((e) => e.type);
      expect(types).toEqual(["start", "crash", "recover"]);
    });

    it("records a checkpoint given in an update and sets it as the session's checkpoint", async () => {
      const s = await manager.create({ context: { step: 1 } });
      const updated = await manager.update(s.id, { checkpoint: { last_completed_step: 3 } });
      expect(updated.checkpoint).toEqual({ last_completed_step: 3 });
      const [checkpoint] = await manager.listCheckpoints(s.id);
      expect(checkpoint).toMatchObject({ data: { last_completed_step: 3 }, state: { context: { step: 1 }, status: "active" } });
    });

    it("renames, refusing a name in use", async () => {
      const a = await manager.create({ name: "alpha" });
      await manager.create({ name: "beta" });
      expect(await failure(manager.update(a.id, { name: "beta" }))).toMatchObject({ code: "conflict", field: "name" });
      await manager.update(a.id, { name: "gamma" });
      expect((await manager.get("gamma")).id).toBe(a.id);
      expect(await manager.find("alpha")).toBeUndefined();
    });
  });

  describe("lifecycle", () => {
    it("pauses, resumes, completes with a result and records each as an event", async () => {
      const s = await manager.create({});
      await manager.pause(s.id, "lunch");
      await manager.resume(s.id);
      const done = await manager.complete(s.id, "shipped");
      expect(done).toMatchObject({ status: "completed", result: "shipped" });
      expect(done.ended_at).not.toBeNull();
      const events = await manager.listEvents(s.id);
      expect(events.map((e) => e.type)).toEqual(["start", "pause", "resume", "complete"]);
      expect(events[1]?.data).toEqual({ reason: "lunch", from: "active", to: "paused" });
    });

    it("fails with an error message", async () => {
      const s = await manager.create({});
      expect(await manager.fail(s.id, "build broke")).toMatchObject({ status: "failed", error: "build broke" });
    });

    it("moves to timeout when iterations reach max_iterations", async () => {
      const s = await manager.create({ max_iterations: 2 });
      expect((await manager.incrementIteration(s.id, { phase: "a" })).status).toBe("active");
      const last = await manager.incrementIteration(s.id, { phase: "b" });
      expect(last).toMatchObject({ status: "timeout", iterations: 2 });
      expect(await failure(manager.incrementIteration(s.id))).toMatchObject({ code: "session_not_active", status: 409 });
    });

    it("says what to do about a session that is not active: resume a paused one; an ended one is not brought back", async () => {
      const paused = await manager.create({});
      await manager.pause(paused.id);
      expect((await failure(manager.incrementIteration(paused.id))).message).toMatch(/is paused; resume it first$/);
      const ended = await manager.create({});
      await manager.complete(ended.id);
      expect((await failure(manager.incrementIteration(ended.id))).message).toMatch(/is completed; it has ended; start a new session$/);
    });

    it("recovers a crashed session, returning its latest checkpoint", async () => {
      const s = await manager.create({});
      const checkpoint = await manager.createCheckpoint(s.id, { label: "before", data: { step: 5 } });
      await manager.crash(s.id, "oom");
      const recovery = await manager.recover(s.id);
      expect(recovery.session.status).toBe("active");
      expect(recovery.checkpoint).toEqual(checkpoint);
      expect(await failure(manager.recover(s.id))).toMatchObject({ code: "invalid_transition" });
    });
  });

  describe("events", () => {
    it("numbers events 1, 2, 3… with no gap or repeat under concurrent callers", async () => {
      const sessions = await Promise.all(Array.from({ length: 5 }, () => manager.create({})));
      await Promise.all(
        sessions.flatMap((s) => Array.from({ length: 200 }, (_, i) => manager.appendEvent(s.name, "note", { i }))),
      );
      for (const s of sessions) {
        const events = await manager.listEvents(s.id, { limit: 1000 });
        expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
        expect((await manager.get(s.id)).last_seq).toBe(201);
      }
    });

    it("keeps seqs gap-free and publishes in commit order on an asynchronous store too", async () => {
      // One store per data dir at a time (its owner lock): the first goes before the second opens.
      await manager.close();
      const { sync: _sync, ...asyncOnly } = openSqliteStore(home.config);
      manager = open(home.config, asyncOnly as Store);
      const s = await manager.create({});
      const published: number[] = [];
      manager.bus.subscribe((c) => c.type === "event.appended" && c.session.id === s.id && published.push(c.event.seq));
      const writes: Promise<unknown>[] = [];
      for (let round = 0; round < 20; round++) {
        writes.push(...Array.from({ length: 10 }, () => manager.appendEvent(s.id, "note")));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(writes);
      expect(published).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
      expect((await manager.listEvents(s.id, { limit: 1000 })).map((e) => e.seq)).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
    });

    it("group-commits many callers' writes in one transaction, resolving each only once committed", async () => {
      const s = await manager.create({});
      commits.length = 0;
      let committedBeforeResolve = true;
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          manager.appendEvent(s.id, "note", { i }).then(() => {
            committedBeforeResolve &&= commits.length > 0;
          }),
        ),
      );
      expect(committedBeforeResolve).toBe(true);
      expect(commits).toHaveLength(1);
      expect(commits[0]).toMatchObject({ writers: 50, ok: true });
      // 50 events; appends write no session row.
      expect(commits[0]?.ops).toBe(50);
    });

    it("does not bump the version for a plain event but moves last_seq and last_activity_at", async () => {
      const s = await manager.create({});
      const event = await manager.appendEvent(s.id, "note", { hello: "world" });
      const after = await manager.get(s.id);
      expect(after.version).toBe(1);
      expect(after.last_seq).toBe(event.seq);
      expect(after.last_activity_at).toBe(event.ts);
      // The same from the store, once the session is no longer in memory.
      await manager.close();
      manager = open();
      expect((await manager.list({})).items[0]).toEqual(after);
      expect(await manager.get(s.id)).toEqual(after);
    });

    it("filters events by seq range and type", async () => {
      const s = await manager.create({});
      for (let i = 0; i < 6; i++) await manager.appendEvent(s.id, i % 2 ? "odd" : "even", { i });
      expect((await manager.listEvents(s.id, { types: ["odd"] })).map((e) => e.seq)).toEqual([3, 5, 7]);
      expect((await manager.listEvents(s.id, { after_seq: 2, to_seq: 4 })).map((e) => e.seq)).toEqual([3, 4]);
    });

    it("records tool calls and the set of tools used", async () => {
      const s = await manager.create({});
      await manager.recordToolCall(s.id, "bash", { command: "npm test" }, { exitCode: 0 });
      await manager.recordToolCall(s.id, "bash", { command: "ls" }, { exitCode: 0 });
      await manager.recordToolCall(s.id, "editor", { file: "a.ts" });
      expect((await manager.get(s.id)).metadata.toolsUsed).toEqual(["bash", "editor"]);
      const [first] = await manager.listEvents(s.id, { types: ["tool_call"] });
      expect(first?.data).toEqual({ tool: "bash", args: { command: "npm test" }, result: { exitCode: 0 } });
    });

    it("publishes each change on the bus only after it is committed", async () => {
      const seen: string[] = [];
      manager.bus.subscribe((c) => seen.push(`${c.type}:${commits.length}`));
      const s = await manager.create({});
      await manager.pause(s.id);
      expect(seen).toEqual(["session.created:1", "event.appended:1", "session.updated:2", "event.appended:2"]);
      const updated = changes.find((c) => c.type === "session.updated");
      expect(updated).toMatchObject({ updates: ["status"], previous: { status: "active" }, session: { status: "paused" } });
    });

    it("keeps serving and other listeners running when a bus listener throws", async () => {
      manager.bus.subscribe(() => {
        throw new Error("listener bug");
      });
      const s = await manager.create({});
      expect(changes.some((c) => c.type === "session.created" && c.session.id === s.id)).toBe(true);
    });
  });

  describe("checkpoints and time travel", () => {
    it("restores context and iterations from a checkpoint, keeping history", async () => {
      const s = await manager.create({ context: { v: 1 } });
      await manager.incrementIteration(s.id);
      const checkpoint = await manager.createCheckpoint(s.id, { label: "v1", data: { note: "good" } });
      await manager.update(s.id, { context: { v: 2 } });
      await manager.incrementIteration(s.id);
      const restored = await manager.restore(s.id, checkpoint.id);
      expect(restored).toMatchObject({ context: { v: 1 }, iterations: 1, checkpoint: { note: "good" }, status: "active" });
      const types = (await manager.listEvents(s.id)).map((e) => e.type);
      expect(types).toEqual(["start", "iteration", "checkpoint", "context_update", "iteration", "restore"]);
    });

    it("refuses to restore a finished session and suggests a fork", async () => {
      const s = await manager.create({});
      const checkpoint = await manager.createCheckpoint(s.id);
      await manager.complete(s.id);
      const err = await failure(manager.restore(s.id, checkpoint.id));
      expect(err).toMatchObject({ code: "session_not_active" });
      expect(err.message).toContain("fork");
    });

    it("forks a new session from a checkpoint with parent set, leaving the source as it was", async () => {
      const s = await manager.create({ mode: "developer", agent_id: "a1", labels: { team: "x" }, context: { v: 1 } });
      await manager.incrementIteration(s.id);
      const checkpoint = await manager.createCheckpoint(s.id, { data: { at: "one" } });
      await manager.update(s.id, { context: { v: 2 } });
      const child = await manager.fork(s.id, checkpoint.id, { name: "the-fork" });
      expect(child).toMatchObject({
        name: "the-fork",
        parent: s.id,
        status: "active",
        mode: "developer",
        agent_id: "a1",
        labels: { team: "x" },
        context: { v: 1 },
        iterations: 1,
        checkpoint: { at: "one" },
      });
      expect((await manager.get(s.id)).context).toEqual({ v: 2 });
      const sourceEvents = await manager.listEvents(s.id, { types: ["fork"] });
      expect(sourceEvents[0]?.data).toMatchObject({ child_id: child.id, checkpoint_id: checkpoint.id });
      expect(await manager.stateAt(child.id, child.last_seq)).toMatchObject({ context: { v: 1 }, iterations: 1 });
    });

    it("answers the state at any seq by replaying from the nearest checkpoint", async () => {
      const s = await manager.create({ context: { n: 0 }, max_iterations: 3 });
      const expected: { seq: number; context: unknown; status: string; iterations: number }[] = [];
      const remember = async () => {
        const now = await manager.get(s.id);
        expected.push({ seq: now.last_seq, context: now.context, status: now.status, iterations: now.iterations });
      };
      await remember();
      await manager.update(s.id, { context_patch: { n: 1 } });
      await remember();
      await manager.incrementIteration(s.id);
      await remember();
      await manager.createCheckpoint(s.id);
      await remember();
      await manager.pause(s.id);
      await remember();
      await manager.update(s.id, { context: { replaced: true } });
      await remember();
      await manager.resume(s.id);
      await manager.incrementIteration(s.id);
      await manager.incrementIteration(s.id);
      await remember();
      for (const state of expected) expect(await manager.stateAt(s.id, state.seq)).toEqual(state);
      expect(expected.at(-1)?.status).toBe("timeout");
      expect(await failure(manager.stateAt(s.id, 0))).toMatchObject({ field: "seq" });
      expect(await failure(manager.stateAt(s.id, 999))).toMatchObject({ field: "seq" });
    });
  });

  describe("lists, stats and cleanup", () => {
    it("lists by filters with cursor pages and sees writes not yet flushed", async () => {
      for (let i = 0; i < 6; i++) await manager.create({ agent_id: i % 2 ? "odd" : "even", user_id: "u" });
      const last = (await manager.list({}, { limit: 1 })).items[0]!;
      // Not awaited: a write to a hot session is queued in the same turn, and a list flushes first.
      const pending = manager.update(last.id, { labels: { fresh: "yes" } });
      const listed = await manager.list({ agent_id: "odd" }, { limit: 2 });
      expect(listed.items).toHaveLength(2);
      expect(listed.next_cursor).not.toBeNull();
      const rest = await manager.list({ agent_id: "odd" }, { limit: 2, cursor: listed.next_cursor! });
      expect(rest.items).toHaveLength(1);
      expect(rest.next_cursor).toBeNull();
      await pending;
      expect((await manager.list({ labels: { fresh: "yes" } })).items).toHaveLength(1);
    });

    it("computes stats across statuses, modes and kinds", async () => {
      const a = await manager.create({ mode: "dev" });
      const b = await manager.create({ mode: "dev" });
      await manager.create({ mode: "ops", kind: "shell" });
      await manager.incrementIteration(a.id);
      await manager.complete(a.id);
      await manager.fail(b.id, "x");
      const stats = await manager.stats();
      expect(stats).toMatchObject({
        total: 3,
        by_status: { completed: 1, failed: 1, active: 1 },
        by_mode: { dev: 2, ops: 1 },
        by_kind: { agent: 2, shell: 1 },
        success_rate: 50,
        average_iterations: 0.33,
      });
    });

    it("cleans up only terminal sessions that ended more than N days ago", async () => {
      let now = Date.parse("2026-01-01T00:00:00Z");
      await manager.close();
      manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config, clock: () => new Date(now) });
      const old = await manager.create({});
      await manager.complete(old.id);
      const oldButActive = await manager.create({});
      now += 40 * 86_400_000;
      const recent = await manager.create({});
      await manager.fail(recent.id, "x");
      const deleted: string[] = [];
      manager.bus.subscribe((c) => c.type === "session.deleted" && deleted.push(c.session.id));
      expect(await manager.cleanup(30)).toBe(1);
      expect(deleted).toEqual([old.id]);
      expect(await manager.find(old.id)).toBeUndefined();
      expect(await manager.find(oldButActive.id)).toBeDefined();
      expect(await manager.find(recent.id)).toBeDefined();
      expect(await manager.listEvents(recent.id)).toHaveLength(2);
    });

    it("deletes a session with its history", async () => {
      const s = await manager.create({ name: "doomed" });
      await manager.appendEvent(s.id, "note");
      await manager.delete("doomed");
      expect(await manager.find(s.id)).toBeUndefined();
      expect(await manager.find("doomed")).toBeUndefined();
      expect(await failure(manager.delete(s.id))).toMatchObject({ code: "not_found" });
      // The name is free again.
      expect((await manager.create({ name: "doomed" })).id).not.toBe(s.id);
    });

    it("reports per-session metrics: duration and activity counts", async () => {
      const s = await manager.create({});
      await manager.appendEvent(s.id, "note");
      await manager.incrementIteration(s.id);
      await manager.createCheckpoint(s.id);
      const metrics = await manager.metrics(s.id);
      expect(metrics).toMatchObject({
        session_id: s.id,
        iterations: 1,
        events_total: 4,
        events_by_type: { start: 1, note: 1, iteration: 1, checkpoint: 1 },
        checkpoints: 1,
      });
      expect(metrics.duration_ms).toBeGreaterThanOrEqual(0);
    });
  });

  describe("memory and durability", () => {
    it("answers gets of hot sessions from memory without touching the store", async () => {
      const s = await manager.create({});
      let reads = 0;
      await manager.close();
      const store = openSqliteStore(home.config);
      const counting: Store = { ...store, getSession: (id) => (reads++, store.getSession(id)) };
      manager = new SessionManager({ store: counting, config: home.config });
      await manager.get(s.id);
      await manager.get(s.id);
      expect(manager.getSync(s.name).id).toBe(s.id);
      expect(reads).toBe(1);
    });

    it("keeps a bounded pool and loses no write when sessions are evicted", async () => {
      const config = tempHome({ hotPoolSize: 3 }).config;
      await manager.close();
      manager = open(config);
      const sessions: Session[] = await Promise.all(Array.from({ length: 20 }, (_, i) => manager.create({ name: `s-${i}` })));
      // All written in one turn: more dirty sessions than the pool holds.
      await Promise.all(sessions.map((s) => manager.appendEvent(s.id, "note", { mark: s.name })));
      expect(manager.hotCount).toBeLessThanOrEqual(3);
      for (const s of sessions) {
        const events = await manager.listEvents(s.name);
        expect(events.map((e) => e.type)).toEqual(["start", "note"]);
        expect((await manager.get(s.id)).last_seq).toBe(2);
      }
    });

    it("flushes on close so a reopened store sees every acknowledged write", async () => {
      const s = await manager.create({ context: { n: 1 } });
      const writes = Array.from({ length: 100 }, (_, i) => manager.appendEvent(s.id, "note", { i }));
      await manager.close();
      await Promise.all(writes);
      manager = open();
      expect((await manager.get(s.id)).last_seq).toBe(101);
      expect(await manager.listEvents(s.id, { limit: 1000 })).toHaveLength(101);
    });

    it("commits queued writes on closeSync and releases the store, so a reopen sees them", async () => {
      const s = await manager.create({});
      const pending = manager.appendEvent(s.id, "note", { queued: true });
      expect(() => manager.closeSync()).not.toThrow();
      await pending;
      expect(manager.isClosed).toBe(true);
      manager = open();
      expect((await manager.listEvents(s.id)).map((e) => e.type)).toEqual(["start", "note"]);
    });

    it("commits an append at once where it can (tryAppendBuiltEventTextSync), after what was queued before it, and says when it cannot", async () => {
      const s = await manager.create({});
      const queued = manager.appendEvent(s.id, "note", { order: 1 });
      const event = manager.tryAppendBuiltEventTextSync(s.id, "note", '{"order":2}');
      expect(event?.seq).toBe(3);
      // Durable and published when it returns: a second connection reads both, in order.
      const reader = new Database(dataPaths(home.config).database, { readonly: true });
      const rows = reader.prepare("SELECT e.data FROM events e JOIN sessions p ON p.skey = e.skey WHERE p.id = ? AND e.seq > 1 ORDER BY e.seq").pluck().all(s.id) as string[];
      reader.close();
      expect(rows.map((data) => JSON.parse(data).order)).toEqual([1, 2]);
      expect(changes.filter((c) => c.type === "event.appended").map((c) => (c as { event: { seq: number } }).event.seq)).toEqual([1, 2, 3]);
      // Its data is parsed from the text when something reads it.
      expect(event?.data).toEqual({ order: 2 });
      await queued;
      expect((await failure(Promise.resolve().then(() => manager.tryAppendBuiltEventTextSync(s.id, "checkpoint", "{}"))))).toMatchObject({ code: "validation", params: { field: "type" } });
      // Not in memory (a new engine on the store), or not there at all: the caller takes the async path.
      await manager.close();
      manager = open();
      expect(manager.tryAppendBuiltEventTextSync(s.id, "note", "{}")).toBeUndefined();
      expect(manager.tryAppendBuiltEventTextSync("no-such-session", "note", "{}")).toBeUndefined();
      expect((await manager.appendBuiltEventText(s.id, "note", '{"order":3}')).seq).toBe(4);
      expect((await manager.listEvents(s.id)).at(-1)).toMatchObject({ seq: 4, type: "note", data: { order: 3 } });
    });

    it("commits a built event at once where it can (tryAppendBuiltEventSync), checked as appendEvent checks data", async () => {
      const s = await manager.create({});
      const event = manager.tryAppendBuiltEventSync(s.id, "exec", { input: "true", status: "ok" });
      expect(event).toMatchObject({ seq: 2, type: "exec", data: { input: "true", status: "ok" } });
      const reader = new Database(dataPaths(home.config).database, { readonly: true });
      const row = reader.prepare("SELECT e.data FROM events e JOIN sessions p ON p.skey = e.skey WHERE p.id = ? AND e.seq = 2").pluck().get(s.id) as string;
      reader.close();
      expect(JSON.parse(row)).toEqual({ input: "true", status: "ok" });
      const big = { output: "x".repeat(home.config.maxEventBytes) };
      expect(await failure(Promise.resolve().then(() => manager.tryAppendBuiltEventSync(s.id, "exec", big)))).toMatchObject({ code: "too_large", params: { field: "data" } });
      expect((await manager.get(s.id)).last_seq).toBe(2);
    });

    it("checks an event's data given as text as it checks data: its strings and its size", async () => {
      const s = await manager.create({});
      expect(await failure(manager.appendBuiltEventText(s.id, "note", '{"a":{"b":"x\\u0000y"}}'))).toMatchObject({ code: "validation", params: { field: "data.a.b" } });
      expect(await failure(manager.appendBuiltEventText(s.id, "note", '{"a":"\\ud800"}'))).toMatchObject({ code: "validation", params: { field: "data.a" } });
      // An escaped backslash before "u0000" is text, not NUL.
      expect((await manager.appendBuiltEventText(s.id, "note", '{"a":"\\\\u0000"}')).data).toEqual({ a: "\\u0000" });
      const big = `{"a":"${"x".repeat(home.config.maxEventBytes)}"}`;
      expect(await failure(manager.appendBuiltEventText(s.id, "note", big))).toMatchObject({ code: "too_large" });
      expect((await manager.listEvents(s.id)).map((e) => e.type)).toEqual(["start", "note"]);
    });

    it("refuses calls after close", async () => {
      await manager.close();
      expect(await failure(manager.create({}))).toMatchObject({ code: "closed" });
    });

    it("fails every caller of a failed commit and reloads the session from the store", async () => {
      // The asynchronous path (as PostgreSQL takes), with a commit that fails once.
      await manager.close();
      const { sync: _sync, ...store } = openSqliteStore(home.config);
      let failNext = false;
      const flaky: Store = {
        ...store,
        commit: (ops) => (failNext ? ((failNext = false), Promise.reject(new Error("disk full"))) : store.commit(ops)),
      };
      manager = new SessionManager({ store: flaky, config: home.config });
      const s = await manager.create({});
      failNext = true;
      const results = await Promise.allSettled([manager.appendEvent(s.id, "note"), manager.update(s.id, { task: "lost" })]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
      expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: "store_failure" });
      const after = await manager.get(s.id);
      expect(after).toMatchObject({ last_seq: 1, task: null, version: 1 });
      const next = await manager.appendEvent(s.id, "note");
      expect(next.seq).toBe(2);
    });

    it("refuses the synchronous API on a store without a synchronous path", async () => {
      await manager.close();
      const store = openSqliteStore(home.config);
      const { sync: _sync, ...asyncOnly } = store;
      manager = new SessionManager({ store: asyncOnly as Store, config: home.config });
      expect(() => manager.listSync()).toThrow(expect.objectContaining({ code: "sync_unavailable" }));
      expect(isSessiondError(await manager.create({}).catch(() => null))).toBe(false);
    });
  });

  describe("names, unique per agent_id", () => {
    /** A manager on the same store with nothing in memory: lookups must go to the store. */
    const reopen = async () => {
      await manager.close();
      manager = open();
    };

    it("lets two agents, and the sessions without an agent_id, each have a session of one name", async () => {
      const a = await manager.create({ name: "build", agent_id: "agent-a" });
      const b = await manager.create({ name: "build", agent_id: "agent-b" });
      const none = await manager.create({ name: "build" });
      expect(new Set([a.id, b.id, none.id]).size).toBe(3);
      expect(await failure(manager.create({ name: "build", agent_id: "agent-a" }))).toMatchObject({ code: "conflict", field: "name" });
      expect(await failure(manager.create({ name: "build", agent_id: "" }))).toMatchObject({ code: "conflict", field: "name" });
    });

    it("finds a session as agent_id/name, and as /name when it has no agent_id, from memory and from the store", async () => {
      const a = await manager.create({ name: "build", agent_id: "team/agent-a" });
      const none = await manager.create({ name: "build" });
      for (const cold of [false, true]) {
        if (cold) await reopen();
        expect((await manager.get("team/agent-a/build")).id).toBe(a.id);
        expect((await manager.get("/build")).id).toBe(none.id);
        expect(manager.getSync("team/agent-a/build").id).toBe(a.id);
        expect(await manager.find("team/agent-b/build")).toBeUndefined();
        expect(await manager.find("team/agent-a/no-such")).toBeUndefined();
      }
    });

    it("resolves a bare name held by one session, and refuses one held by several with ambiguous_name listing each as agent_id/name", async () => {
      const only = await manager.create({ name: "solo", agent_id: "agent-a" });
      await manager.create({ name: "build", agent_id: "agent-a" });
      await manager.create({ name: "build", agent_id: "agent-b" });
      for (const cold of [false, true]) {
        if (cold) await reopen();
        expect((await manager.get("solo")).id).toBe(only.id);
        const err = await failure(manager.get("build"));
        expect(err).toMatchObject({ code: "ambiguous_name", status: 409 });
        expect(err.message).toBe("2 sessions are named build: address one by its id or as agent_id/name (agent-a/build, agent-b/build)");
        expect(() => manager.getSync("build")).toThrow(expect.objectContaining({ code: "ambiguous_name" }));
        expect(await failure(manager.appendEvent("build", "note"))).toMatchObject({ code: "ambiguous_name" });
      }
    });

    it("resolves a scoped bare name in the scope's own namespace, and finds nothing outside the scope by id or by name", async () => {
      const mine = await manager.create({ name: "build", agent_id: "agent-a", user_id: "u1" });
      const theirs = await manager.create({ name: "build", agent_id: "agent-b", user_id: "u2" });
      const onlyTheirs = await manager.create({ name: "secret", agent_id: "agent-b", user_id: "u2" });
      for (const cold of [false, true]) {
        if (cold) await reopen();
        expect((await manager.get("build", { agent_id: "agent-a" })).id).toBe(mine.id);
        expect((await manager.get("build", { agent_id: "agent-b" })).id).toBe(theirs.id);
        expect((await manager.get("build", { user_id: "u2" })).id).toBe(theirs.id);
        for (const ref of [theirs.id, onlyTheirs.id, "secret", "agent-b/build", "agent-b/secret"]) {
          expect(await manager.find(ref, { agent_id: "agent-a" }), ref).toBeUndefined();
          expect(manager.findSync(ref, { agent_id: "agent-a" }), ref).toBeUndefined();
        }
        expect(await manager.find("build", { user_id: "u3" })).toBeUndefined();
      }
    });

    it("prefers a session's id to another session's name, unless the id is outside the scope", async () => {
      const byId = await manager.create({ id: "shared-ref", agent_id: "agent-b" });
      const byName = await manager.create({ name: "shared-ref", agent_id: "agent-a" });
      expect((await manager.get("shared-ref")).id).toBe(byId.id);
      expect((await manager.get("shared-ref", { agent_id: "agent-a" })).id).toBe(byName.id);
    });

    it("refuses a rename onto, or a move of agent_id into, a name the target namespace holds, and allows both where it is free", async () => {
      const a = await manager.create({ name: "alpha", agent_id: "agent-a" });
      await manager.create({ name: "beta", agent_id: "agent-a" });
      const b = await manager.create({ name: "alpha", agent_id: "agent-b" });
      expect(await failure(manager.update(a.id, { name: "beta" }))).toMatchObject({ code: "conflict", field: "name" });
      expect(await failure(manager.update(b.id, { agent_id: "agent-a" }))).toMatchObject({ code: "conflict", field: "name" });
      expect(await failure(manager.update(b.id, { agent_id: "agent-a", name: "beta" }))).toMatchObject({ code: "conflict" });
      await manager.update(b.id, { agent_id: "agent-a", name: "gamma" });
      await manager.update(a.id, { agent_id: "agent-c" });
      expect((await manager.get("agent-a/gamma")).id).toBe(b.id);
      expect((await manager.get("agent-c/alpha")).id).toBe(a.id);
      expect(await manager.find("agent-a/alpha")).toBeUndefined();
    });

    it("goes by memory, not the store's older row, while a rename is not yet committed: the old name is free", async () => {
      await manager.close();
      const store = openSqliteStore(home.config);
      let hold: Promise<void> = Promise.resolve();
      // No synchronous path, and commits wait for `hold`: a change can stay in memory only.
      const held: Store = { ...store, sync: undefined, commit: async (ops) => (await hold, store.commit(ops)) };
      manager = new SessionManager({ store: held, config: home.config });
      const s = await manager.create({ name: "old", agent_id: "agent-a" });
      let release!: () => void;
      hold = new Promise((resolve) => (release = resolve));
      const renamed = manager.update(s.id, { name: "new" });
      await new Promise((resolve) => setImmediate(resolve));
      expect(await store.findSessionIds({ name: "old", limit: 5 })).toEqual([s.id]);
      expect(await manager.find("agent-a/old")).toBeUndefined();
      expect(await manager.find("old")).toBeUndefined();
      expect((await manager.get("agent-a/new")).id).toBe(s.id);
      const reuse = manager.create({ name: "old", agent_id: "agent-a" });
      release();
      await renamed;
      expect((await reuse).id).not.toBe(s.id);
    });
  });

  describe("recovering a crashed live session", () => {
    it("refuses recover, resume and a status update back to active while live sessions are off, with the error a start gets, and leaves it crashed", async () => {
      const shell = await manager.create({ kind: "shell" });
      await manager.crash(shell.id);
      const startError = "invalid kind: shell is not enabled; no mode is enabled (set ENABLE_SESSIONS=true, or executionModes.session in the config file, for the server: sessiond server restart picks it up)";
      for (const attempt of [manager.recover(shell.id), manager.resume(shell.id), manager.update(shell.id, { status: "active" })]) {
        const err = await failure(attempt);
        expect(err).toMatchObject({ code: "validation", status: 400, field: "kind" });
        expect(err.message).toBe(startError);
      }
      expect((await manager.get(shell.id)).status).toBe("crashed");
    });

    it("recovers a crashed agent session with live sessions off, and a crashed live one once its kind is on", async () => {
      const agent = await manager.create({});
      await manager.crash(agent.id);
      expect((await manager.recover(agent.id)).session.status).toBe("active");
      await manager.close();
      manager = open(tempHome({ enableSessions: true }).config);
      const shell = await manager.create({ kind: "shell" });
      await manager.crash(shell.id);
      expect((await manager.resume(shell.id)).status).toBe("active");
    });
  });
});
