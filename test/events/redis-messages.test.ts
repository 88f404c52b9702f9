import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { redisMessage } from "../../src/events/index.js";
import { redisMessageJson } from "../../src/events/redis/index.js";
import { type SessionChange, SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

describe("Redis messages", () => {
  let home: ReturnType<typeof tempHome>;
  let manager: SessionManager;
  let changes: SessionChange[];

  beforeEach(() => {
    home = tempHome();
    manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
    changes = [];
    manager.bus.subscribe((c) => changes.push(c));
  });
  afterEach(async () => {
    await manager.close();
    home.remove();
  });

  const messages = () => changes.map((c) => JSON.parse(JSON.stringify(redisMessage(c))));

  it("describes a create exactly as seed 003 does, keys in its order", async () => {
    const s = await manager.create({ agent_id: "agent-1", type: "development", runtime_backend: "local" });
    const created = changes.find((c) => c.type === "session.created")!;
    expect(JSON.stringify(redisMessage(created))).toBe(
      JSON.stringify({
        event_type: "session.created",
        aggregate_type: "session",
        aggregate_id: s.id,
        payload: { agent_id: "agent-1", session_type: "development", runtime_backend: "local" },
      }),
    );
  });

  it("describes an update with the status and the names of the fields it changed", async () => {
    const s = await manager.create({ agent_id: "agent-1", type: "task" });
    changes = [];
    await manager.update(s.id, { status: "paused", checkpoint: { step: 3 } });
    expect(messages()[0]).toEqual({
      event_type: "session.updated",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: "agent-1", status: "paused", updates: ["checkpoint", "status"] },
    });
  });

  it("describes deletes, event appends and checkpoints in the same envelope, without their data", async () => {
    const s = await manager.create({ agent_id: null });
    await manager.appendEvent(s.id, "note", { big: "x".repeat(1000) });
    await manager.update(s.id, { checkpoint: { step: 1 } });
    await manager.delete(s.id);
    const all = messages();
    expect(all.find((m) => m.event_type === "session.event_appended" && m.payload.type === "note")).toEqual({
      event_type: "session.event_appended",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: null, status: "active", seq: 2, type: "note", ts: expect.any(String) },
    });
    expect(all.find((m) => m.event_type === "session.checkpoint_created")).toEqual({
      event_type: "session.checkpoint_created",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: null, status: "active", checkpoint_id: expect.any(String), seq: 3, label: null },
    });
    expect(all.at(-1)).toEqual({
      event_type: "session.deleted",
      aggregate_type: "session",
      aggregate_id: s.id,
      payload: { agent_id: null, status: "active" },
    });
  });
});

describe("the publisher's direct serialization", () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom("a\"b", "line\nbreak", "tab\t", "\u0000", "back\\slash", "</script>", "ü ✓ 🚀", "\ud800"));
  const maybe = fc.option(text, { nil: null });
  const session = fc.record({
    id: fc.oneof(fc.uuid(), text),
    agent_id: maybe,
    type: maybe,
    status: fc.constantFrom("active", "paused", "completed", "failed", "timeout", "crashed"),
    runtime_backend: fc.constantFrom("local", "kubernetes", "unknown"),
  });
  const change = fc.oneof(
    session.map((s) => ({ type: "session.created", session: s })),
    fc.tuple(session, fc.array(text, { maxLength: 4 })).map(([s, updates]) => ({ type: "session.updated", session: s, updates })),
    session.map((s) => ({ type: "session.deleted", session: s })),
    fc.tuple(session, fc.nat(), text, fc.date({ noInvalidDate: true })).map(([s, seq, type, d]) => ({ type: "event.appended", session: s, event: { seq, type, ts: d.toISOString(), data: {} } })),
    fc.tuple(session, fc.nat(), maybe, fc.uuid()).map(([s, seq, label, id]) => ({ type: "checkpoint.created", session: s, checkpoint: { id, seq, label } })),
  ) as fc.Arbitrary<SessionChange>;

  it("gives exactly JSON.stringify(redisMessage(change)) for every change type and any strings", () => {
    fc.assert(
      fc.property(change, (c) => {
        expect(redisMessageJson(c)).toBe(JSON.stringify(redisMessage(c)));
      }),
      { numRuns: 2000 },
    );
  });
});
