import { type AgentInputItem, MemorySession, UserError, assistant, user } from "@openai/agents-core";
import { afterEach, describe, expect, it } from "vitest";
import { isSessiondError } from "sessiond/client";
import { CLEARED_EVENT, ITEM_EVENT, POPPED_EVENT, SessiondSession } from "../../src/adapters/openai-agents/index.js";
import { BACKENDS, type Backend } from "./openai-agents/backends.js";

/** Every Session method on both backends, beside the SDK's own MemorySession where it has an answer to compare. */
describe.each(Object.keys(BACKENDS) as (keyof typeof BACKENDS)[])("SessiondSession, %s", (kind) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });
  const open = async (flags: Record<string, unknown> = {}) => (backend = await BACKENDS[kind](flags));

  const call = (id: string): AgentInputItem => ({ type: "function_call", callId: id, name: "lookup", arguments: JSON.stringify({ id }), status: "completed" });
  const text = (item: AgentInputItem | undefined) => ((item as { content: { text: string }[] }).content[0]!.text);
  const conversation = (): AgentInputItem[] => [user("my name is Ada"), assistant("Hello Ada"), call("c1"), { type: "function_call_result", callId: "c1", name: "lookup", status: "completed", output: "42" }];

  it("creates its session on first use, once, with the conversation's defaults and the fields it was given", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond, create: { agent_id: "support", name: "ticket-1", labels: { team: "a" } } });
    const [id, again] = await Promise.all([session.getSessionId(), session.getSessionId()]);
    expect(again).toBe(id);
    const stored = await b.manager.get(id);
    expect(stored).toMatchObject({ id, name: "ticket-1", agent_id: "support", kind: "agent", type: "conversation", labels: { framework: "openai-agents", team: "a" } });
    expect((await b.manager.list({ agent_id: "support" })).items).toHaveLength(1);
  });

  it("opens the conversation a second run created under the same name, and refuses a name another kind of session holds", async () => {
    const b = await open();
    const first = new SessiondSession({ sessiond: b.sessiond, create: { agent_id: "support", name: "ticket-2" } });
    await first.addItems([user("hello")]);
    // The same program run again: the same create, a new object.
    const second = new SessiondSession({ sessiond: b.sessiond, create: { agent_id: "support", name: "ticket-2" } });
    expect(await second.getSessionId()).toBe(await first.getSessionId());
    expect((await second.getItems()).map(text)).toEqual(["hello"]);
    await b.manager.create({ agent_id: "support", name: "a-task" });
    const clash = new SessiondSession({ sessiond: b.sessiond, create: { agent_id: "support", name: "a-task" } });
    const err = await clash.getItems().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/is not a conversation/);
  });

  it("answers an empty session as MemorySession does: no items, nothing to pop", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const memory = new MemorySession();
    for (const s of [session, memory]) {
      expect(await s.getItems()).toEqual([]);
      expect(await s.getItems(3)).toEqual([]);
      expect(await s.popItem()).toBeUndefined();
      await s.clearSession();
      expect(await s.getItems()).toEqual([]);
    }
  });

  it("keeps items in order; getItems(limit) is the newest limit, oldest first, as MemorySession's", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const memory = new MemorySession();
    const items = conversation();
    for (const s of [session, memory]) {
      await s.addItems(items.slice(0, 2));
      await s.addItems([]);
      await s.addItems(items.slice(2));
    }
    for (const limit of [undefined, 0, -1, 1, 3, 4, 100]) expect(await session.getItems(limit)).toEqual(await memory.getItems(limit));
    expect(await session.getItems()).toEqual(items);
  });

  it("popItem removes and returns the newest item, and reads no longer see it; clearSession empties the conversation but keeps the session", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const memory = new MemorySession();
    const items = conversation();
    for (const s of [session, memory]) await s.addItems(items);
    expect(await session.popItem()).toEqual(items[3]);
    expect(await session.popItem()).toEqual(await (memory.popItem(), memory.popItem()));
    expect(await session.getItems()).toEqual(items.slice(0, 2));
    expect(await session.getItems(1)).toEqual([items[1]]);

    const id = await session.getSessionId();
    await session.clearSession();
    expect(await session.getItems()).toEqual([]);
    expect(await session.popItem()).toBeUndefined();
    await session.addItems([user("again")]);
    expect(await session.getItems()).toEqual([user("again")]);
    expect(await session.getSessionId()).toBe(id);
    // History is kept: the items, the pops and the clear are all on the timeline.
    const types = (await b.manager.listEvents(id, { types: [ITEM_EVENT, POPPED_EVENT, CLEARED_EVENT] })).map((e) => e.type);
    expect(types).toEqual([...Array(4).fill(ITEM_EVENT), POPPED_EVENT, POPPED_EVENT, CLEARED_EVENT, ITEM_EVENT]);
  });

  it("brings back what JSON alone would not: raw bytes, U+0000 and lone surrogates in text, exactly", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const items: AgentInputItem[] = [
      user("nul \u0000 and a lone \ud800 surrogate, an emoji 🎉"),
      { type: "function_call_result", callId: "c1", name: "shot", status: "completed", output: { type: "image", image: { data: bytes, mediaType: "image/png" } } },
      { type: "function_call_result", callId: "c2", name: "file", status: "completed", output: { type: "text", text: "\u0000" } },
    ];
    await session.addItems(items);
    const read = await new SessiondSession({ sessiond: b.sessiond, session: await session.getSessionId() }).getItems();
    expect(read).toEqual(items);
    const image = (read[1] as { output: { image: { data: unknown } } }).output.image.data;
    expect(image).toBeInstanceOf(Uint8Array);
    expect([...(image as Uint8Array)]).toEqual([...bytes]);
  });

  it("opens an existing session by id, by name and by agent_id/name, and sees what another SessiondSession wrote", async () => {
    const b = await open();
    const first = new SessiondSession({ sessiond: b.sessiond, create: { agent_id: "support", name: "ticket-2" } });
    await first.addItems([user("hi")]);
    const id = await first.getSessionId();
    for (const ref of [id, "ticket-2", "support/ticket-2"]) {
      const other = new SessiondSession({ sessiond: b.sessiond, session: ref });
      expect(await other.getSessionId()).toBe(id);
      expect(await other.getItems()).toEqual([user("hi")]);
    }
  });

  it("an unknown session is the SDK's UserError on every method, its cause sessiond's not_found, and nothing is created", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond, session: "no-such-session" });
    for (const attempt of [() => session.getSessionId(), () => session.getItems(), () => session.addItems([user("x")]), () => session.popItem(), () => session.clearSession()]) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain('"no-such-session"');
      expect(isSessiondError((err as Error).cause, "not_found")).toBe(true);
    }
    expect((await b.manager.list()).items).toEqual([]);
  });

  it("names the missing `sessiond` option rather than failing on it", () => {
    expect(() => new SessiondSession({} as never)).toThrow(/option `sessiond` is missing/);
  });

  it("refuses an item of the wrong shape with a UserError naming it, and writes none of its batch", async () => {
    const b = await open();
    const session = new SessiondSession({ sessiond: b.sessiond });
    const id = await session.getSessionId();
    for (const bad of [{ role: "user", content: 5 }, { type: "no_such_item" }, "text", null, { role: "user", content: "x", big: 10n }]) {
      const err = await session.addItems([user("fine"), bad as unknown as AgentInputItem]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/^addItems: item 1 /);
    }
    await expect(session.addItems("nope" as unknown as AgentInputItem[])).rejects.toBeInstanceOf(UserError);
    await expect(session.getItems(1.5)).rejects.toBeInstanceOf(UserError);
    expect(await b.manager.listEvents(id, { types: [ITEM_EVENT] })).toEqual([]);
    expect(() => new SessiondSession({ sessiond: b.sessiond, session: "a", create: {} })).toThrow(UserError);
    expect(() => new SessiondSession({ sessiond: {} as never })).toThrow(TypeError);
  });

  it("a batch the store refuses part of leaves none of it: the items written before the refused one are popped again", async () => {
    const b = await open({ maxEventBytes: 2048 });
    const session = new SessiondSession({ sessiond: b.sessiond });
    await session.addItems([user("kept")]);
    const err = await session.addItems([user("a"), user("b"), user("x".repeat(4096))]).catch((e: unknown) => e);
    expect(isSessiondError(err, "too_large")).toBe(true);
    expect(await session.getItems()).toEqual([user("kept")]);
    await session.addItems([user("after")]);
    expect(await session.getItems()).toEqual([user("kept"), user("after")]);
  });

  it("concurrent addItems from two callers lose no item, and each batch stays in its order", async () => {
    const b = await open();
    const a = new SessiondSession({ sessiond: b.sessiond });
    const id = await a.getSessionId();
    const other = new SessiondSession({ sessiond: b.sessiond, session: id });
    const batch = (who: string, n: number) => Array.from({ length: n }, (_, i) => user(`${who}${i}`));
    await Promise.all([
      ...Array.from({ length: 5 }, (_, k) => a.addItems(batch(`a${k}-`, 4))),
      ...Array.from({ length: 5 }, (_, k) => other.addItems(batch(`b${k}-`, 4))),
    ]);
    const texts = (await a.getItems()).map(text);
    expect(texts).toHaveLength(40);
    expect(new Set(texts).size).toBe(40);
    for (const who of ["a0-", "a3-", "b1-", "b4-"]) expect(texts.filter((t) => t.startsWith(who))).toEqual([0, 1, 2, 3].map((i) => `${who}${i}`));
  });

  it("concurrent popItem from two callers each remove a different item: no item is returned twice", async () => {
    const b = await open();
    const a = new SessiondSession({ sessiond: b.sessiond });
    const id = await a.getSessionId();
    const others = Array.from({ length: 3 }, () => new SessiondSession({ sessiond: b.sessiond, session: id }));
    await a.addItems(Array.from({ length: 8 }, (_, i) => user(`m${i}`)));
    const popped = await Promise.all([a, ...others, a, ...others].map((s) => s.popItem()));
    const texts = popped.map(text).sort();
    expect(texts).toEqual(["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    expect(await a.getItems()).toEqual([]);
    expect(await a.popItem()).toBeUndefined();
  });
});
