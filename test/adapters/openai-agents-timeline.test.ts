import { type AgentInputItem, assistant, user } from "@openai/agents-core";
import { afterEach, describe, expect, it } from "vitest";
import { ITEM_EVENT, SessiondSession } from "../../src/adapters/openai-agents/index.js";
import { type Timeline, timelineOf } from "../../src/adapters/openai-agents/timeline.js";
import { BACKENDS, type Backend } from "./openai-agents/backends.js";

/** The conversation as sessiond history: events on the timeline, checkpoints, restore and fork. */
describe.each(Object.keys(BACKENDS) as (keyof typeof BACKENDS)[])("SessiondSession on the timeline, %s", (kind) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  const open = async () => (backend = await BACKENDS[kind]());

  it("keeps each item as one agent.item event, in order, beside the session's other events", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond, create: { agent_id: "support" } });
    const id = await session.getSessionId();
    await session.addItems([user("hi"), assistant("hello")]);
    await b.manager.appendEvent(id, "note", { text: "not an item" });
    await session.addItems([user("bye")]);
    const events = await b.manager.listEvents(id);
    expect(events.map((e) => e.type)).toEqual(["start", ITEM_EVENT, ITEM_EVENT, "note", ITEM_EVENT]);
    expect(events.filter((e) => e.type === ITEM_EVENT).map((e) => e.data)).toEqual([{ item: user("hi") }, { item: assistant("hello") }, { item: user("bye") }]);
    expect(await session.getItems()).toEqual([user("hi"), assistant("hello"), user("bye")]);
  });

  it("a fork from a checkpoint holds the items up to it, then its own; pops and clears in the fork leave the parent as it was", async () => {
    const b = await open();
    const parent = new SessiondSession({ sessiond: b.sessiond });
    const parentId = await parent.getSessionId();
    await parent.addItems([user("u1"), assistant("a1")]);
    const checkpoint = await b.manager.createCheckpoint(parentId, { label: "after greeting" });
    await parent.addItems([user("u2")]);

    const forked = await b.manager.fork(parentId, checkpoint.id, { name: "try-b" });
    const child = new SessiondSession({ sessiond: b.sessiond, session: "try-b" });
    expect(await child.getSessionId()).toBe(forked.id);
    expect(await child.getItems()).toEqual([user("u1"), assistant("a1")]);
    await child.addItems([user("u3")]);
    expect(await child.getItems()).toEqual([user("u1"), assistant("a1"), user("u3")]);
    expect(await child.getItems(2)).toEqual([assistant("a1"), user("u3")]);

    // A fork of the fork carries both levels.
    const childCheckpoint = await b.manager.createCheckpoint(forked.id);
    const grandchild = new SessiondSession({ sessiond: b.sessiond, session: (await b.manager.fork(forked.id, childCheckpoint.id)).id });
    expect(await grandchild.getItems()).toEqual([user("u1"), assistant("a1"), user("u3")]);

    expect(await child.popItem()).toEqual(user("u3"));
    expect(await child.popItem()).toEqual(assistant("a1")); // the parent's item, popped in the fork only
    expect(await child.getItems()).toEqual([user("u1")]);
    await child.clearSession();
    expect(await child.getItems()).toEqual([]);

    expect(await parent.getItems()).toEqual([user("u1"), assistant("a1"), user("u2")]);
    expect(await grandchild.getItems()).toEqual([user("u1"), assistant("a1"), user("u3")]);
  });

  it("restoring a checkpoint rewinds the conversation to it; what came after stays on the timeline", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const id = await session.getSessionId();
    await session.addItems([user("u1"), assistant("a1"), user("u2")]);
    await session.popItem();
    const checkpoint = await b.manager.createCheckpoint(id);
    await session.addItems([user("later")]);
    await session.clearSession();
    await session.addItems([user("after the clear")]);
    await b.manager.restore(id, checkpoint.id);
    expect(await session.getItems()).toEqual([user("u1"), assistant("a1")]);
    await session.addItems([user("u4")]);
    expect(await session.getItems()).toEqual([user("u1"), assistant("a1"), user("u4")]);
    expect((await b.manager.listEvents(id, { types: [ITEM_EVENT] })).length).toBe(6);
  });

  it("a fork whose parent was deleted keeps its own items", async () => {
    const b = await open();
    const parent = new SessiondSession({ sessiond: b.sessiond });
    const parentId = await parent.getSessionId();
    await parent.addItems([user("u1")]);
    const forked = await b.manager.fork(parentId, (await b.manager.createCheckpoint(parentId)).id);
    const child = new SessiondSession({ sessiond: b.sessiond, session: forked.id });
    await child.addItems([user("own")]);
    await b.manager.delete(parentId);
    expect(await child.getItems()).toEqual([user("own")]);
  });

  it("reads about as many events as items asked for, and never past a clear: not the whole history", async () => {
    const b = await open();
    const counted = counting(timelineOf(b.sessiond));
    const session = new SessiondSession({ sessiond: counted.timeline });
    const many: AgentInputItem[] = Array.from({ length: 600 }, (_, i) => user(`m${i}`));
    await session.addItems(many);

    counted.reset();
    expect(await session.getItems(3)).toEqual(many.slice(-3));
    expect(counted.events).toBeLessThanOrEqual(14);

    counted.reset();
    expect(await session.popItem()).toEqual(many[599]);
    expect(counted.events).toBeLessThanOrEqual(20);

    await session.clearSession();
    await session.addItems([user("fresh")]);
    counted.reset();
    expect(await session.getItems()).toEqual([user("fresh")]);
    expect(counted.events).toBe(2); // the item and the clear
    expect(counted.reads).toBe(1);

    // Another process opening the session learns where the clear is from the context.
    const later = new SessiondSession({ sessiond: counted.timeline, session: await session.getSessionId() });
    counted.reset();
    expect(await later.getItems()).toEqual([user("fresh")]);
    expect(counted.events).toBe(2);
  });

  it("a clear's place in the context is only a bound: one edited by hand costs reads, never items", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const id = await session.getSessionId();
    await session.addItems([user("gone")]);
    await session.clearSession();
    await session.addItems([user("u1"), user("u2")]);
    const clear = (b.manager.findSync(id)!.context.openai_agents as { last_clear: { seq: number } }).last_clear;
    expect(clear).toEqual({ session_id: id, seq: 3 });
    for (const wrong of [{ session_id: id, seq: 5 }, { session_id: id, seq: 1 }, { session_id: "elsewhere", seq: 2 }, "junk"]) {
      await b.manager.updateContext(id, { openai_agents: { last_clear: wrong } }, { merge: true });
      expect(await new SessiondSession({ sessiond: b.sessiond, session: id }).getItems()).toEqual([user("u1"), user("u2")]);
    }
  });
});

/** A Timeline that counts the reads it answers and the events they carry. */
function counting(inner: Timeline): { timeline: Timeline; reads: number; events: number; reset(): void } {
  const counts = {
    reads: 0,
    events: 0,
    reset() {
      counts.reads = 0;
      counts.events = 0;
    },
    timeline: {
      ...inner,
      newest: async (id: string, query: Parameters<Timeline["newest"]>[1]) => {
        const events = await inner.newest(id, query);
        counts.reads++;
        counts.events += events.length;
        return events;
      },
    },
  };
  return counts;
}
