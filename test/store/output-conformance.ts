import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Session } from "../../src/core/index.js";
import { newSessionRecord } from "../../src/engine/records.js";
import type { OutputRecord, Store, WriteOp } from "../../src/store/index.js";

/** Opens a fresh, empty store; `close` is called after each test. */
export type OutputStoreFactory = () => Promise<Store>;

const limits = { maxContextBytes: 1 << 20, maxEventBytes: 1 << 20 };

/**
 * The exec-output log and the global event feed of the Store contract, through the interface
 * only: every backend runs it unchanged (`runOutputConformance("sqlite", () => …)`).
 */
export function runOutputConformance(name: string, open: OutputStoreFactory): void {
  describe(`Store conformance (exec output and feed): ${name}`, () => {
    let store: Store;
    let clock = Date.parse("2026-01-01T00:00:00.000Z");
    const tick = () => new Date((clock += 1000)).toISOString();
    const session = (fields: Partial<Session> = {}): Session => ({ ...newSessionRecord({ mode: "developer" }, tick(), limits), ...fields });
    const put = (s: Session): WriteOp => ({ op: "put_session", session: s, insert: true, scalarsOnly: false });
    const event = (s: Session, seq: number, type = "note"): WriteOp => ({ op: "append_event", session_id: s.id, event: { seq, ts: tick(), type, data: { seq } } });
    const piece = (s: Session, exec: string, stream: "stdout" | "stderr", offset: number, text: string | Buffer): OutputRecord => ({
      session_id: s.id,
      exec_id: exec,
      stream,
      offset,
      data: typeof text === "string" ? Buffer.from(text) : text,
    });

    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it("keeps output pieces with increasing positions and returns a session's pieces after a position, bytes intact", async () => {
      const a = session();
      const b = session();
      await store.commit([put(a), put(b)]);
      const binary = Buffer.from([0xff, 0x00, 0xc3]);
      const positions = await store.appendOutput([piece(a, "x1", "stdout", 0, "hello "), piece(b, "y1", "stdout", 0, "other"), piece(a, "x1", "stdout", 6, binary)]);
      expect(positions).toHaveLength(3);
      expect(positions[1]!).toBeGreaterThan(positions[0]!);
      expect(positions[2]!).toBeGreaterThan(positions[1]!);
      const all = await store.listOutput(a.id, 0, 10);
      expect(all.map((o) => [o.pos, o.exec_id, o.stream, o.offset])).toEqual([
        [positions[0], "x1", "stdout", 0],
        [positions[2], "x1", "stdout", 6],
      ]);
      expect(Buffer.compare(Buffer.from(all[1]!.data), binary)).toBe(0);
      expect((await store.listOutput(a.id, positions[0]!, 10)).map((o) => o.pos)).toEqual([positions[2]]);
      expect(await store.listOutput(a.id, positions[2]!, 10)).toEqual([]);
      expect((await store.listOutput(a.id, 0, 1)).map((o) => o.pos)).toEqual([positions[0]]);
    });

    it("reports what is kept of an exec per stream and finds the piece holding a byte offset", async () => {
      const a = session();
      await store.commit([put(a)]);
      const [p0, p1, p2] = await store.appendOutput([
        piece(a, "x1", "stdout", 0, "abcd"),
        piece(a, "x1", "stderr", 0, "E"),
        piece(a, "x1", "stdout", 4, "efgh"),
      ]);
      expect(await store.execOutputExtent("x1")).toEqual({ session_id: a.id, first_pos: p0, last_pos: p2, stdout_bytes: 8, stderr_bytes: 1 });
      expect(await store.execOutputExtent("nope")).toBeUndefined();
      expect(await store.outputPosAt("x1", "stdout", 0)).toBe(p0);
      expect(await store.outputPosAt("x1", "stdout", 3)).toBe(p0);
      expect(await store.outputPosAt("x1", "stdout", 4)).toBe(p2);
      expect(await store.outputPosAt("x1", "stdout", 7)).toBe(p2);
      expect(await store.outputPosAt("x1", "stdout", 8)).toBeUndefined();
      expect(await store.outputPosAt("x1", "stderr", 0)).toBe(p1);
      expect(await store.outputPosAt("x1", "stderr", 1)).toBeUndefined();
    });

    it("drops a session's output with the session", async () => {
      const a = session();
      await store.commit([put(a)]);
      await store.appendOutput([piece(a, "x1", "stdout", 0, "abc")]);
      await store.commit([{ op: "delete_session", session_id: a.id }]);
      expect(await store.listOutput(a.id, 0, 10)).toEqual([]);
      expect(await store.execOutputExtent("x1")).toBeUndefined();
    });

    it("numbers events globally in commit order, with the owner fields, and never reuses a position", async () => {
      const a = session({ agent_id: "ag1", kind: "agent" });
      const b = session({ agent_id: null });
      await store.commit([put(a), event(a, 1, "start"), put(b), event(b, 1, "start")]);
      await store.commit([event(a, 2, "tool_call"), event(b, 2)]);
      const feed = await store.listFeed(0, 100);
      expect(feed.map((f) => [f.session_id, f.event.seq, f.event.type])).toEqual([
        [a.id, 1, "start"],
        [b.id, 1, "start"],
        [a.id, 2, "tool_call"],
        [b.id, 2, "note"],
      ]);
      expect(feed.map((f) => f.pos)).toEqual([...feed.map((f) => f.pos)].sort((x, y) => x - y));
      expect(new Set(feed.map((f) => f.pos)).size).toBe(4);
      expect(feed[0]).toMatchObject({ kind: "agent", agent_id: "ag1", user_id: null });
      expect(feed[2]!.event.data).toEqual({ seq: 2 });
      expect(await store.feedHead()).toBe(feed[3]!.pos);
      expect((await store.listFeed(feed[1]!.pos, 100)).map((f) => f.pos)).toEqual([feed[2]!.pos, feed[3]!.pos]);
      expect((await store.listFeed(0, 2)).map((f) => f.pos)).toEqual([feed[0]!.pos, feed[1]!.pos]);

      await store.commit([{ op: "delete_session", session_id: b.id }]);
      expect((await store.listFeed(0, 100)).map((f) => f.session_id)).toEqual([a.id, a.id]);
      const head = await store.feedHead();
      expect(head).toBe(feed[3]!.pos);
      await store.commit([event(a, 3)]);
      const [next] = await store.listFeed(head, 10);
      expect(next!.pos).toBeGreaterThan(head);
    });

    it("starts the feed at position 0 when there are no events", async () => {
      expect(await store.feedHead()).toBe(0);
      expect(await store.listFeed(0, 10)).toEqual([]);
    });
  });
}
