import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Checkpoint, type Session, type SessionEvent, isSessiondError } from "../../src/core/index.js";
import { newSessionRecord } from "../../src/engine/records.js";
import { type Store, type WriteOp, storedDataText } from "../../src/store/index.js";

/** Opens a fresh, empty store; `close` is called after each test. */
export type StoreFactory = () => Promise<Store>;

const limits = { maxContextBytes: 1 << 20, maxEventBytes: 1 << 20 };

/**
 * The Store contract, tested through the interface only: every backend runs this suite
 * unchanged (`runStoreConformance("sqlite", () => …)`).
 */
export function runStoreConformance(name: string, open: StoreFactory): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    let clock = Date.parse("2026-01-01T00:00:00.000Z");
    const tick = () => new Date((clock += 1000)).toISOString();

    const session = (fields: Partial<Session> = {}): Session => ({
      ...newSessionRecord({ mode: "developer" }, tick(), limits),
      ...fields,
    });
    const put = (s: Session, insert = true): WriteOp => ({ op: "put_session", session: s, insert, scalarsOnly: false });
    const event = (s: Session, seq: number, type = "note", data: Record<string, unknown> = { seq }): WriteOp => ({
      op: "append_event",
      session_id: s.id,
      event: { seq, ts: tick(), type, data },
    });

    /** Every session of a filtered listing, read page by page through the cursors. */
    const allPages = async (filter: Parameters<Store["listSessions"]>[0], limit: number): Promise<Session[]> => {
      const paged: Session[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listSessions(filter, { limit, ...(cursor ? { cursor } : {}) });
        paged.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      return paged;
    };

    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it("round-trips every field of a session", async () => {
      const s = session({
        name: "round-trip",
        kind: "python",
        type: "development",
        agent_id: "agent-1",
        user_id: "user-1",
        channel_id: "chan-1",
        labels: { env: "prod", team: "core" },
        task: "a task",
        workspace: "/w",
        status: "paused",
        iterations: 3,
        max_iterations: 10,
        context: { nested: { list: [1, "two", null], flag: true }, unicode: "héllo ✓" },
        checkpoint: { step: 2 },
        runtime_backend: "kubernetes",
        runtime_metadata: { pod: "p-1" },
        server: "ssh",
        result: { ok: 1 },
        error: "boom",
        metadata: { model: "m", tokens: { total: 3 } },
        parent: "some-parent",
        ended_at: tick(),
        last_seq: 0,
        version: 7,
        participants: [
          { kind: "ai", id: "agent-1", joined_at: tick() },
          { kind: "human", id: "user-1", joined_at: tick() },
          { kind: "persona", id: "reviewer ✓", joined_at: tick() },
        ],
      });
      await store.commit([put(s)]);
      expect(await store.getSession(s.id)).toEqual(s);
    });

    it("rewrites participants on a full update and keeps them on a scalars-only one", async () => {
      const s = session({ participants: [{ kind: "ai", id: "agent-1", joined_at: tick() }] });
      await store.commit([put(s)]);
      const joined = { ...s, participants: [...s.participants, { kind: "human" as const, id: "joel", joined_at: tick() }] };
      await store.commit([put(joined, false)]);
      expect((await store.getSession(s.id))?.participants).toEqual(joined.participants);
      await store.commit([{ op: "put_session", session: { ...joined, status: "paused", version: 2, participants: [] }, insert: false, scalarsOnly: true }]);
      const stored = await store.getSession(s.id);
      expect(stored?.status).toBe("paused");
      expect(stored?.participants).toEqual(joined.participants);
      expect((await store.listSessions({}, { limit: 10 })).items.find((x) => x.id === s.id)?.participants).toEqual(joined.participants);
    });

    it("answers undefined for an unknown id and no ids for an unknown name", async () => {
      expect(await store.getSession("nope")).toBeUndefined();
      expect(await store.findSessionIds({ name: "nope", limit: 5 })).toEqual([]);
    });

    it("finds a session's id by its name", async () => {
      const s = session({ name: "by-name" });
      await store.commit([put(s)]);
      expect(await store.findSessionIds({ name: "by-name", limit: 5 })).toEqual([s.id]);
    });

    it("keeps names unique per agent_id: two agents and the sessions without one may each hold a name once", async () => {
      const a = session({ name: "build", agent_id: "agent-a" });
      const b = session({ name: "build", agent_id: "agent-b" });
      const none = session({ name: "build", agent_id: null });
      expect((await store.commit([put(a), put(b), put(none)])).rejected).toEqual([]);
      const again = session({ name: "build", agent_id: "agent-a" });
      expect((await store.commit([put(again)])).rejected).toEqual([again.id]);
      expect(await store.getSession(again.id)).toBeUndefined();
      expect(await store.findSessionIds({ name: "build", namespace: "agent-a", limit: 5 })).toEqual([a.id]);
      expect(await store.findSessionIds({ name: "build", namespace: "agent-b", limit: 5 })).toEqual([b.id]);
      expect(await store.findSessionIds({ name: "build", namespace: "", limit: 5 })).toEqual([none.id]);
    });

    it("counts a null and an empty agent_id as one namespace", async () => {
      const none = session({ name: "shared", agent_id: null });
      await store.commit([put(none)]);
      const empty = session({ name: "shared", agent_id: "" });
      expect((await store.commit([put(empty)])).rejected).toEqual([empty.id]);
      expect(await store.findSessionIds({ name: "shared", namespace: "", limit: 5 })).toEqual([none.id]);
    });

    it("finds every holder of a name oldest first, narrowed by user_id and cut at the limit", async () => {
      const holders = ["agent-1", "agent-2", "agent-3"].map((agent_id, i) => session({ name: "common", agent_id, user_id: i === 1 ? "u2" : "u1" }));
      await store.commit([...holders].reverse().map((s) => put(s)));
      await store.commit([put(session({ name: "other", agent_id: "agent-1" }))]);
      expect(await store.findSessionIds({ name: "common", limit: 5 })).toEqual(holders.map((s) => s.id));
      expect(await store.findSessionIds({ name: "common", limit: 2 })).toEqual(holders.slice(0, 2).map((s) => s.id));
      expect(await store.findSessionIds({ name: "common", user_id: "u1", limit: 5 })).toEqual([holders[0]!.id, holders[2]!.id]);
      expect(await store.findSessionIds({ name: "common", namespace: "agent-2", user_id: "u1", limit: 5 })).toEqual([]);
    });

    it("refuses an update that moves a session onto a name its new agent_id already holds, and frees a name its holder leaves", async () => {
      const a = session({ name: "moving", agent_id: "agent-a" });
      const b = session({ name: "moving", agent_id: "agent-b" });
      await store.commit([put(a), put(b)]);
      await expect(store.commit([put({ ...b, agent_id: "agent-a" }, false)])).rejects.toBeTruthy();
      expect((await store.getSession(b.id))?.agent_id).toBe("agent-b");
      await store.commit([put({ ...a, name: "moved" }, false)]);
      await store.commit([put({ ...b, agent_id: "agent-a" }, false)]);
      expect(await store.findSessionIds({ name: "moving", namespace: "agent-a", limit: 5 })).toEqual([b.id]);
      await store.commit([{ op: "delete_session", session_id: b.id }]);
      const fresh = session({ name: "moving", agent_id: "agent-a" });
      expect((await store.commit([put(fresh)])).rejected).toEqual([]);
    });

    it("refuses an insert whose name is taken and skips that session's other writes, keeping the rest", async () => {
      const first = session({ name: "taken" });
      await store.commit([put(first)]);
      const loser = session({ name: "taken" });
      const other = session({ name: "other" });
      const result = await store.commit([put(loser), event(loser, 1), put(other), event(other, 1)]);
      expect(result.rejected).toEqual([loser.id]);
      expect(await store.getSession(loser.id)).toBeUndefined();
      expect(await store.listEvents(loser.id, {})).toEqual([]);
      expect((await store.getSession(other.id))?.last_seq).toBe(1);
    });

    it("applies a batch atomically: a failing op rolls back the whole batch", async () => {
      const a = session({ name: "atomic-a" });
      const b = session({ name: "atomic-b" });
      await store.commit([put(a), put(b)]);
      // Renaming b onto a's name through an update violates uniqueness mid-batch.
      const ops = [event(a, 1), put({ ...b, name: "atomic-a" }, false)];
      await expect(store.commit(ops)).rejects.toBeTruthy();
      expect(await store.listEvents(a.id, {})).toEqual([]);
    });

    it("updates scalars only without touching the JSON columns", async () => {
      const s = session({ context: { keep: true } });
      await store.commit([put(s)]);
      const changed = { ...s, status: "completed" as const, iterations: 4, version: 2, ended_at: tick(), context: { lost: true } };
      await store.commit([{ op: "put_session", session: changed, insert: false, scalarsOnly: true }]);
      const stored = await store.getSession(s.id);
      expect(stored?.status).toBe("completed");
      expect(stored?.iterations).toBe(4);
      expect(stored?.version).toBe(2);
      expect(stored?.context).toEqual({ keep: true });
    });

    it("takes last_seq and last_activity_at from the newest event when the row lags, in gets and lists", async () => {
      const s = session();
      const newest = event(s, 2);
      await store.commit([put(s), event(s, 1), newest]);
      const ts = newest.op === "append_event" ? newest.event.ts : "";
      expect(await store.getSession(s.id)).toMatchObject({ last_seq: 2, last_activity_at: ts });
      expect((await store.listSessions({}, { limit: 5 })).items[0]).toMatchObject({ last_seq: 2, last_activity_at: ts });
    });

    it("lists the caller's held copy of a session in its place, and reads the rest, across pages and status branches", async () => {
      const sessions = Array.from({ length: 7 }, (_, i) => session({ name: `held-${i}`, status: i % 3 === 0 ? "paused" : "active" }));
      await store.commit(sessions.flatMap((s) => [put(s), event(s, 1)]));
      const heldCopies = new Map([sessions[1]!, sessions[3]!, sessions[6]!].map((s) => [s.id, { ...s, task: "the caller's copy" }]));
      const asked: string[] = [];
      const held = (id: string) => (asked.push(id), heldCopies.get(id));

      const listed: Session[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listSessions({ status: ["active", "paused"] }, { limit: 3, ...(cursor ? { cursor } : {}) }, held);
        listed.push(...page.items);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);

      expect(listed.map((s) => s.name)).toEqual([...sessions].reverse().map((s) => s.name));
      for (const s of listed) {
        if (heldCopies.has(s.id)) expect(s).toBe(heldCopies.get(s.id));
        else expect(s).toMatchObject({ task: null, last_seq: 1 }); // read from the store, newest event joined
      }
      expect(listed.filter((s) => s.task === "the caller's copy")).toHaveLength(3);
      expect(new Set(asked)).toEqual(new Set(sessions.map((s) => s.id)));
    });

    it("writes an event's data from the text its op carries, when it carries one", async () => {
      const s = session();
      const data = { the: "data", nested: { list: [1, "two", null] } };
      // The text is what is written: the event's own data is not looked at (it may not be parsed yet).
      const text: WriteOp = { op: "append_event", session_id: s.id, event: { seq: 1, ts: tick(), type: "note", data: { stale: true } }, text: JSON.stringify(data) };
      await store.commit([put(s), text, event(s, 2)]);
      expect((await store.listEvents(s.id, {})).map((e) => e.data)).toEqual([data, { seq: 2 }]);
    });

    it("reads a large event's data when asked, and gives its stored text to send on unparsed", async () => {
      const s = session();
      const data = { items: Array.from({ length: 3000 }, (_, i) => ({ i })), note: "é" };
      await store.commit([put(s), event(s, 1, "big", data), event(s, 2)]);
      const [big, small] = await store.listEvents(s.id, {});
      expect(JSON.parse(storedDataText(big!)!)).toEqual(data);
      expect(big!.data).toEqual(data);
      expect(JSON.stringify(big)).toBe(JSON.stringify({ seq: 1, ts: big!.ts, type: "big", data }));
      expect(storedDataText(small!)).toBeUndefined();
    });

    it("lists events by seq range, type and direction", async () => {
      const s = session();
      const ops: WriteOp[] = [put(s)];
      for (let seq = 1; seq <= 10; seq++) ops.push(event(s, seq, seq % 2 ? "odd" : "even"));
      await store.commit(ops);
      const seqs = (events: SessionEvent[]) => events.map((e) => e.seq);
      expect(seqs(await store.listEvents(s.id, {}))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(seqs(await store.listEvents(s.id, { after_seq: 3, to_seq: 6 }))).toEqual([4, 5, 6]);
      expect(seqs(await store.listEvents(s.id, { types: ["even"] }))).toEqual([2, 4, 6, 8, 10]);
      expect(seqs(await store.listEvents(s.id, { limit: 3, descending: true }))).toEqual([10, 9, 8]);
      expect((await store.listEvents(s.id, { after_seq: 0, limit: 1 }))[0]).toMatchObject({ type: "odd", data: { seq: 1 } });
    });

    it("stores checkpoints and finds the newest at or before a seq", async () => {
      const s = session();
      const checkpoint = (id: string, seq: number): Checkpoint => ({
        id,
        session_id: s.id,
        seq,
        label: `at-${seq}`,
        data: { seq },
        state: { context: { at: seq }, status: "active", iterations: seq },
        created_at: tick(),
      });
      const [two, five] = [checkpoint("cp-2", 2), checkpoint("cp-5", 5)];
      await store.commit([put(s), { op: "put_checkpoint", checkpoint: two }, { op: "put_checkpoint", checkpoint: five }]);
      expect(await store.listCheckpoints(s.id, 10)).toEqual([two, five]);
      expect(await store.getCheckpoint(s.id, "cp-5")).toEqual(five);
      expect(await store.getCheckpoint("another-session", "cp-5")).toBeUndefined();
      expect((await store.checkpointAtOrBefore(s.id, 4))?.id).toBe("cp-2");
      expect((await store.checkpointAtOrBefore(s.id, 5))?.id).toBe("cp-5");
      expect(await store.checkpointAtOrBefore(s.id, 1)).toBeUndefined();
    });

    it("deletes a session with its events, checkpoints and labels", async () => {
      const s = session({ labels: { gone: "yes" } });
      await store.commit([put(s), event(s, 1)]);
      await store.commit([{ op: "delete_session", session_id: s.id }]);
      expect(await store.getSession(s.id)).toBeUndefined();
      expect(await store.listEvents(s.id, {})).toEqual([]);
      expect((await store.listSessions({ labels: { gone: "yes" } }, { limit: 10 })).items).toEqual([]);
    });

    it("gives a session created after the newest one was deleted none of the deleted one's events", async () => {
      const kept = session();
      const gone = session();
      await store.commit([put(kept), event(kept, 1), put(gone), event(gone, 1), event(gone, 2)]);
      await store.commit([{ op: "delete_session", session_id: gone.id }]);
      const fresh = session();
      await store.commit([put(fresh), event(fresh, 1, "fresh")]);
      expect((await store.listEvents(fresh.id, {})).map((e) => e.type)).toEqual(["fresh"]);
      expect((await store.getSession(fresh.id))?.last_seq).toBe(1);
      expect((await store.listEvents(kept.id, {})).map((e) => e.seq)).toEqual([1]);
    });

    it("lists newest first with every filter, and pages with a cursor without gaps or repeats", async () => {
      const all: Session[] = [];
      const statuses = ["active", "paused", "completed", "failed"] as const;
      for (let i = 0; i < 40; i++) {
        all.push(
          session({
            agent_id: `agent-${i % 3}`,
            user_id: `user-${i % 4}`,
            channel_id: `chan-${i % 5}`,
            status: statuses[i % 4]!,
            kind: i % 10 === 0 ? "shell" : "agent",
            type: i % 2 ? "task" : "conversation",
            mode: i % 3 ? "developer" : "reviewer",
            labels: i % 7 === 0 ? { tier: "gold" } : {},
          }),
        );
      }
      await store.commit(all.map((s) => put(s)));
      const newestFirst = [...all].reverse();
      const ids = (items: Session[]) => items.map((s) => s.id);
      const expectFilter = async (filter: Parameters<Store["listSessions"]>[0], keep: (s: Session) => boolean) => {
        expect(ids((await store.listSessions(filter, { limit: 100 })).items)).toEqual(ids(newestFirst.filter(keep)));
      };
      await expectFilter({}, () => true);
      await expectFilter({ agent_id: "agent-1" }, (s) => s.agent_id === "agent-1");
      await expectFilter({ user_id: "user-2" }, (s) => s.user_id === "user-2");
      await expectFilter({ channel_id: "chan-3" }, (s) => s.channel_id === "chan-3");
      await expectFilter({ status: "paused" }, (s) => s.status === "paused");
      await expectFilter({ status: ["active", "failed"] }, (s) => s.status === "active" || s.status === "failed");
      await expectFilter({ kind: "shell" }, (s) => s.kind === "shell");
      await expectFilter({ type: "task" }, (s) => s.type === "task");
      await expectFilter({ mode: "reviewer", status: "active" }, (s) => s.mode === "reviewer" && s.status === "active");
      await expectFilter({ labels: { tier: "gold" } }, (s) => s.labels.tier === "gold");
      const middle = all[20]!.created_at;
      await expectFilter({ created_after: middle }, (s) => s.created_at >= middle);
      await expectFilter({ created_before: middle }, (s) => s.created_at < middle);

      const paged = await allPages({}, 7);
      expect(ids(paged)).toEqual(ids(newestFirst));
    });

    it("pages through a label filter, with more labels and other filters on top", async () => {
      const all: Session[] = [];
      for (let i = 0; i < 30; i++) {
        all.push(session({ labels: { team: i % 3 ? "core" : "edge", env: i % 2 ? "prod" : "dev" }, status: i % 5 ? "active" : "paused" }));
      }
      await store.commit(all.map((s) => put(s)));
      const expected = [...all].reverse().filter((s) => s.labels.team === "core" && s.labels.env === "prod" && s.status === "active");
      const paged = await allPages({ labels: { team: "core", env: "prod" }, status: "active" }, 3);
      expect(paged.map((s) => s.id)).toEqual(expected.map((s) => s.id));
      expect((await store.stats({ labels: { team: "edge" } })).total).toBe(10);
    });

    it("pages through several statuses and kinds at once in one newest-first order", async () => {
      const statuses = ["active", "paused", "completed"] as const;
      const kinds = ["agent", "shell"] as const;
      const all = Array.from({ length: 36 }, (_, i) => session({ status: statuses[i % 3]!, kind: kinds[(i >> 1) % 2]! }));
      await store.commit(all.map((s) => put(s)));
      const filter = { status: ["active", "completed"] as ("active" | "completed")[], kind: ["agent", "shell"] as ("agent" | "shell")[] };
      const expected = [...all].reverse().filter((s) => s.status !== "paused");
      const paged = await allPages(filter, 5);
      expect(paged.map((s) => s.id)).toEqual(expected.map((s) => s.id));
    });

    it("orders sessions created in the same millisecond by id, stably", async () => {
      const at = tick();
      const same = [session({ created_at: at }), session({ created_at: at }), session({ created_at: at })];
      await store.commit(same.map((s) => put(s)));
      const first = await store.listSessions({}, { limit: 2 });
      const second = await store.listSessions({}, { limit: 2, cursor: first.next_cursor! });
      const listed = [...first.items, ...second.items].map((s) => s.id);
      expect(listed).toEqual(same.map((s) => s.id).sort().reverse());
    });

    it("refuses a cursor it did not make, naming the field", async () => {
      const err = await store.listSessions({}, { limit: 5, cursor: "garbage!" }).catch((e: unknown) => e);
      expect(isSessiondError(err, "validation") && err.field).toBe("cursor");
    });

    it("aggregates stats by status, mode and kind with success rate, iterations and duration", async () => {
      const start = "2026-02-01T00:00:00.000Z";
      const end = "2026-02-01T00:00:10.000Z";
      await store.commit([
        put(session({ status: "completed", mode: "a", iterations: 4, started_at: start, ended_at: end })),
        put(session({ status: "completed", mode: "a", iterations: 2, started_at: start, ended_at: end })),
        put(session({ status: "failed", mode: "b", iterations: 0, started_at: start, ended_at: end })),
        put(session({ status: "active", mode: "b", kind: "shell", iterations: 2 })),
      ]);
      const stats = await store.stats({});
      expect(stats).toEqual({
        total: 4,
        by_status: { completed: 2, failed: 1, active: 1 },
        by_mode: { a: 2, b: 2 },
        by_kind: { agent: 3, shell: 1 },
        success_rate: 66.67,
        average_iterations: 2,
        average_duration_ms: 10_000,
      });
      expect((await store.stats({ mode: "a" })).total).toBe(2);
    });

    it("counts sessions by status, leaving out a status with none, and follows deletes", async () => {
      expect(await store.countByStatus()).toEqual({});
      const gone = session({ status: "paused" });
      await store.commit([put(session({ status: "active" })), put(session({ status: "active" })), put(session({ status: "failed" })), put(gone)]);
      expect(await store.countByStatus()).toEqual({ active: 2, failed: 1, paused: 1 });
      await store.commit([{ op: "delete_session", session_id: gone.id }]);
      expect(await store.countByStatus()).toEqual({ active: 2, failed: 1 });
    });

    it("counts a session's events by type and its checkpoints", async () => {
      const s = session();
      await store.commit([put(s), event(s, 1, "a"), event(s, 2, "a"), event(s, 3, "b")]);
      expect(await store.activity(s.id)).toEqual({ events_by_type: { a: 2, b: 1 }, checkpoints: 0 });
    });

    it("lists terminal sessions that ended at or before a time, oldest first", async () => {
      const old = session({ status: "completed", ended_at: "2025-01-01T00:00:00.000Z" });
      const older = session({ status: "failed", ended_at: "2024-01-01T00:00:00.000Z" });
      const recent = session({ status: "completed", ended_at: "2026-06-01T00:00:00.000Z" });
      const crashed = session({ status: "crashed", ended_at: null });
      await store.commit([put(old), put(older), put(recent), put(crashed)]);
      expect(await store.listExpired("2026-01-01T00:00:00.000Z", 10)).toEqual([older.id, old.id]);
      expect(await store.listExpired(old.ended_at!, 10)).toEqual([older.id, old.id]);
    });

    it("stores, lists and deletes webhook registrations", async () => {
      const hook = { id: "w1", url: "http://localhost:3001/hook", events: ["start"], secret: "s", created_at: tick() };
      await store.putWebhook(hook);
      expect(await store.listWebhooks()).toEqual([hook]);
      expect(await store.deleteWebhook("w1")).toBe(true);
      expect(await store.deleteWebhook("w1")).toBe(false);
      expect(await store.listWebhooks()).toEqual([]);
    });
  });
}
