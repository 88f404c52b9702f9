import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Checkpoint, type CheckpointMetadata, JsonPlusSerializer, TASKS, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SessiondClient, createClient } from "sessiond/client";
import { SessiondError } from "../../src/core/index.js";
import { SessionManager } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { SessiondSaver, threadSessionName } from "../../src/adapters/langgraph/index.js";
import { runNode } from "../helpers/run-node.js";
import { tempHome } from "../helpers/temp-home.js";
import { type TestServer, startServer } from "../server/harness.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const TSX = ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href];

const META: CheckpointMetadata = { source: "loop", step: 0, parents: {} };

function checkpoint(values: Record<string, unknown> = {}, id = uuid6(-1)): Checkpoint {
  return { ...emptyCheckpoint(), id, channel_values: values, channel_versions: Object.fromEntries(Object.keys(values).map((k) => [k, 1])) };
}

function all<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  return (async () => {
    const out: T[] = [];
    for await (const item of gen) out.push(item);
    return out;
  })();
}

/** The saver's contract beyond the official suite: bad input, odd values, several savers on one thread, on either backend. */
describe.each(["embedded", "remote"] as const)("SessiondSaver (%s)", (backend) => {
  let manager: SessionManager;
  let server: TestServer | undefined;
  let client: SessiondClient | undefined;
  let remove: () => void = () => undefined;
  let maxEventBytes = 0;
  let saver: (agentId?: string) => SessiondSaver;

  beforeEach(async () => {
    if (backend === "embedded") {
      const home = tempHome();
      remove = home.remove;
      manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
      maxEventBytes = home.config.maxEventBytes;
      saver = (agentId) => new SessiondSaver({ manager, ...(agentId ? { agentId } : {}) });
    } else {
      server = await startServer();
      manager = server.manager;
      maxEventBytes = server.config.maxEventBytes;
      await server.app.listen({ host: "127.0.0.1", port: 0 });
      const address = server.app.server.address();
      if (!address || typeof address === "string") throw new Error("no TCP address");
      client = createClient({ baseUrl: `http://127.0.0.1:${address.port}`, token: server.token, home: server.home });
      saver = (agentId) => new SessiondSaver({ client: client!, ...(agentId ? { agentId } : {}) });
    }
  });

  afterEach(async () => {
    await client?.close();
    client = undefined;
    if (server) await server.close();
    else await manager.close();
    server = undefined;
    remove();
  });

  it("answers undefined or nothing for a thread that does not exist, and creates no session for reading it", async () => {
    const s = saver();
    expect(await s.getTuple({ configurable: { thread_id: "nobody" } })).toBeUndefined();
    expect(await s.getTuple({ configurable: { thread_id: "nobody", checkpoint_id: uuid6(-1) } })).toBeUndefined();
    expect(await all(s.list({ configurable: { thread_id: "nobody" } }))).toEqual([]);
    await expect(s.deleteThread("nobody")).resolves.toBeUndefined();
    expect(await manager.find("langgraph/nobody")).toBeUndefined();
  });

  it("does not find a checkpoint of another thread, by id or in a list", async () => {
    const s = saver();
    const put = await s.put({ configurable: { thread_id: "a" } }, checkpoint({ x: 1 }), META, { x: 1 });
    await s.put({ configurable: { thread_id: "b" } }, checkpoint({ x: 2 }), META, { x: 1 });
    const id = put.configurable!.checkpoint_id as string;
    expect(await s.getTuple({ configurable: { thread_id: "b", checkpoint_ns: "", checkpoint_id: id } })).toBeUndefined();
    expect(await all(s.list({ configurable: { thread_id: "b", checkpoint_id: id } }))).toEqual([]);
    expect((await s.getTuple(put))?.checkpoint.channel_values).toEqual({ x: 1 });
  });

  it("keeps one whole checkpoint when two puts of one checkpoint id race: never one's values with the other's metadata", async () => {
    const s = saver();
    const other = saver();
    const id = uuid6(-1);
    const config = { configurable: { thread_id: "race" } };
    await Promise.all([
      s.put(config, checkpoint({ who: "first" }, id), { ...META, step: 1 }, { who: 1 }),
      other.put(config, checkpoint({ who: "second" }, id), { ...META, step: 2 }, { who: 1 }),
    ]);
    for (const reader of [s, other, saver()]) {
      const tuple = await reader.getTuple({ configurable: { thread_id: "race", checkpoint_id: id } });
      const pairs = [
        [{ who: "first" }, 1],
        [{ who: "second" }, 2],
      ];
      expect(pairs).toContainEqual([tuple?.checkpoint.channel_values, tuple?.metadata?.step]);
      expect(await all(reader.list(config))).toHaveLength(1);
    }
    // Both puts are on the timeline, each a whole event.
    const events = await manager.listEvents("langgraph/race", { types: ["langgraph.checkpoint"] });
    expect(events).toHaveLength(2);
    expect(events.map((e) => e.data.step).sort()).toEqual([1, 2]);
  });

  it("keeps writes put before their checkpoint (as LangGraph's savers do) and shows them once it is put", async () => {
    const s = saver();
    const cp = checkpoint({});
    const config = { configurable: { thread_id: "early", checkpoint_ns: "", checkpoint_id: cp.id } };
    await s.putWrites(config, [["channel", "value"]], "task-1");
    expect(await s.getTuple(config)).toBeUndefined();
    await s.put({ configurable: { thread_id: "early" } }, cp, META, {});
    expect((await s.getTuple(config))?.pendingWrites).toEqual([["task-1", "channel", "value"]]);
  });

  it("refuses a put or putWrites without thread_id or checkpoint_id, with the framework's error, and writes nothing", async () => {
    const s = saver();
    await expect(s.put({}, checkpoint(), META, {})).rejects.toThrow(/configurable/);
    await expect(s.put({ configurable: { checkpoint_ns: "" } }, checkpoint(), META, {})).rejects.toThrow(/thread_id/);
    await expect(s.putWrites({ configurable: { thread_id: "t" } }, [["c", 1]], "task")).rejects.toThrow(/checkpoint_id/);
    await expect(s.putWrites({ configurable: { checkpoint_id: "x" } }, [["c", 1]], "task")).rejects.toThrow(/thread_id/);
    await expect(s.put({ configurable: { thread_id: { not: "a string" } } }, checkpoint(), META, {})).rejects.toThrow(/thread_id must be a non-empty string/);
    expect((await manager.list({ agent_id: "langgraph" })).items).toEqual([]);
  });

  it("refuses a checkpoint over the event size limit as a whole: the thread keeps its previous checkpoint", async () => {
    const s = saver();
    const config = { configurable: { thread_id: "big" } };
    const small = await s.put(config, checkpoint({ v: "small" }), META, { v: 1 });
    const huge = "x".repeat(maxEventBytes + 1);
    const refused = await s.put(config, checkpoint({ v: huge }), META, { v: 1 }).catch((err: unknown) => err);
    // Embedded the engine refuses the event; remote the server the request body: a 413 either way.
    expect(refused).toBeInstanceOf(SessiondError);
    expect(["too_large", "body_too_large"]).toContain((refused as SessiondError).code);
    const latest = await s.getTuple(config);
    expect(latest?.config.configurable?.checkpoint_id).toBe(small.configurable?.checkpoint_id);
    expect(latest?.checkpoint.channel_values).toEqual({ v: "small" });
    expect(await manager.listEvents("langgraph/big", { types: ["langgraph.checkpoint"] })).toHaveLength(1);
  });

  it("round-trips values exactly through the serde: bytes, NUL and lone surrogates, nested and in writes", async () => {
    const s = saver();
    const values = { bytes: new Uint8Array([0, 1, 254, 255]), text: "nul\u0000 and \ud800 lone", nested: { deep: [1, "two", null, { three: 3 }] } };
    const put = await s.put({ configurable: { thread_id: "values" } }, checkpoint(values), META, { bytes: 1, text: 1, nested: 1 });
    await s.putWrites(put, [["bytes", new Uint8Array([9, 0, 9])], ["text", "\u0000"]], "task");
    for (const reader of [s, saver()]) {
      const tuple = await reader.getTuple(put);
      expect(tuple?.checkpoint.channel_values).toEqual(values);
      expect(tuple?.checkpoint.channel_values.bytes).toBeInstanceOf(Uint8Array);
      expect(tuple?.pendingWrites).toEqual([
        ["task", "bytes", new Uint8Array([9, 0, 9])],
        ["task", "text", "\u0000"],
      ]);
    }
  });

  it("keeps plain values as JSON on the timeline, and reads a checkpoint kept in the earlier text form", async () => {
    const s = saver();
    const put = await s.put({ configurable: { thread_id: "as-json" } }, checkpoint({ messages: ["hi", "there"], step: 1 }), META, { messages: 1, step: 1 });
    await s.putWrites(put, [["messages", ["again"]]], "task");
    const session = (await manager.find("langgraph/as-json"))!;
    const [stored, writes] = await manager.listEvents(session.id, { types: ["langgraph.checkpoint", "langgraph.writes"] });
    const data = stored!.data as Record<string, any>;
    expect(data.values).toEqual({ messages: { type: "json", json: ["hi", "there"] }, step: { type: "json", json: 1 } });
    expect(data.metadata).toEqual({ type: "json", json: META });
    expect((writes!.data as Record<string, any>).writes[0].value).toEqual({ type: "json", json: ["again"] });
    // The same checkpoint under another id, its values as JSON text in strings (as savers before wrote them).
    const asText = (value: { type: string; json: unknown }) => ({ type: value.type, text: JSON.stringify(value.json) });
    const oldId = uuid6(-1);
    await manager.appendEvent(session.id, "langgraph.checkpoint", {
      ...data,
      checkpoint_id: oldId,
      checkpoint: asText({ ...data.checkpoint, json: { ...data.checkpoint.json, id: oldId } }),
      metadata: asText(data.metadata),
      values: { messages: asText(data.values.messages), step: asText(data.values.step) },
    });
    const tuple = await saver().getTuple({ configurable: { thread_id: "as-json", checkpoint_id: oldId } });
    expect(tuple?.checkpoint).toMatchObject({ id: oldId, channel_values: { messages: ["hi", "there"], step: 1 } });
    expect(tuple?.metadata).toEqual(META);
  });

  it("reads around checkpoint events written by hand: refs to anything but the thread's checkpoints are not fetched, and an unreadable checkpoint is named", async () => {
    const s = saver();
    const first = await s.put({ configurable: { thread_id: "by-hand" } }, checkpoint({ kept: "yes", step: 1 }), META, { kept: 1, step: 1 });
    const session = (await manager.find("langgraph/by-hand"))!;
    const [stored] = await manager.listEvents(session.id, { types: ["langgraph.checkpoint"] });
    const data = stored!.data as Record<string, any>;
    const forged = (id: string, fields: Record<string, unknown>) =>
      manager.appendEvent(session.id, "langgraph.checkpoint", { ...data, checkpoint_id: id, parent_checkpoint_id: first.configurable!.checkpoint_id, checkpoint: { ...data.checkpoint, json: { ...data.checkpoint.json, id } }, ...fields });
    // refs to nothing, to a writes event, to no number: none holds a value; only the real one is read.
    const refsId = uuid6(-1);
    const refs: Record<string, unknown> = { kept: stored!.seq, ghost: 99_999, junk: "abc", neg: -5, huge: 1e300 };
    for (let i = 0; i < 2000; i++) refs[`many${i}`] = 100_000 + i;
    await forged(refsId, { values: {}, refs });
    const reader = saver();
    const tuple = await reader.getTuple({ configurable: { thread_id: "by-hand", checkpoint_id: refsId } });
    expect(tuple?.checkpoint.channel_values).toEqual({ kept: "yes" });
    // No checkpoint, or one that is no object: named, not a TypeError.
    const nullId = uuid6(-1);
    await forged(nullId, { checkpoint: { type: "json", json: null } });
    const failure = await reader.getTuple({ configurable: { thread_id: "by-hand", checkpoint_id: nullId } }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).name).toBe("MalformedCheckpoint");
    expect((failure as Error).message).toContain(nullId);
    // Other shapes no saver writes: the thread's good checkpoints still read; the bad one is named.
    const good = await s.put(first, checkpoint({ kept: "still", step: 2 }), META, { kept: 2, step: 2 });
    await manager.appendEvent(session.id, "langgraph.checkpoint", { ...data, checkpoint_id: uuid6(-1), metadata: "x", writes: 5 });
    await manager.appendEvent(session.id, "langgraph.writes", { task_path: "", checkpoint_ns: "", checkpoint_id: good.configurable!.checkpoint_id, task_id: "t", writes: [{ channel: "c", idx: 0, value: 7 }, { channel: "d", idx: 1 }] });
    const textId = uuid6(-1);
    await forged(textId, { checkpoint: { type: "json", text: "{not json" } });
    const fresh = saver();
    expect((await fresh.getTuple({ configurable: { thread_id: "by-hand", checkpoint_id: good.configurable!.checkpoint_id } }))?.checkpoint.channel_values).toEqual({ kept: "still", step: 2 });
    expect(await fresh.getTuple({ configurable: { thread_id: "by-hand", checkpoint_id: textId } }).catch((err: Error) => err.name)).toBe("MalformedCheckpoint");
    // Listing every thread leaves it out and still lists the others.
    await saver().put({ configurable: { thread_id: "another" } }, checkpoint({ a: 1 }), META, { a: 1 });
    const listed = await all(reader.list({}));
    expect(listed.map((t) => t.config.configurable?.checkpoint_id)).not.toContain(nullId);
    expect(listed.map((t) => t.config.configurable?.checkpoint_id)).not.toContain(textId);
    expect(listed.map((t) => t.config.configurable?.thread_id)).toEqual(expect.arrayContaining(["by-hand", "another"]));
  });

  it("rebuilds a checkpoint whose channels were each last written by a different earlier checkpoint, with nothing of them cached", async () => {
    const s = saver();
    let config = { configurable: { thread_id: "spread" } } as Parameters<SessiondSaver["put"]>[0];
    const values: Record<string, number> = {};
    for (let i = 0; i < 12; i++) {
      values[`c${i}`] = i;
      config = await s.put(config, { ...checkpoint({ ...values }), channel_versions: Object.fromEntries(Object.keys(values).map((k) => [k, 1])) }, META, { [`c${i}`]: 1 });
    }
    // A saver with no room to cache: the 11 carried channels are read from 11 events at once.
    const cold = backend === "embedded" ? new SessiondSaver({ manager, cacheBytes: 1 }) : new SessiondSaver({ client: client!, cacheBytes: 1 });
    expect((await cold.getTuple(config))?.checkpoint.channel_values).toEqual(values);
  });

  it("keeps a task's first regular write and its latest error write, as LangGraph's savers do", async () => {
    const s = saver();
    const put = await s.put({ configurable: { thread_id: "dupes" } }, checkpoint(), META, {});
    await s.putWrites(put, [["out", "first"]], "task");
    await s.putWrites(put, [["out", "second"]], "task");
    await s.putWrites(put, [["__error__", "boom 1"]], "task");
    await s.putWrites(put, [["__error__", "boom 2"]], "task");
    expect((await saver().getTuple(put))?.pendingWrites).toEqual([
      ["task", "__error__", "boom 2"],
      ["task", "out", "first"],
    ]);
  });

  it("sees what another saver wrote to the thread since it last read, and rebuilds carried channels across savers", async () => {
    const a = saver();
    const b = saver();
    const config = { configurable: { thread_id: "shared" } };
    const first = await a.put(config, { ...checkpoint({ kept: "from a", step: 1 }), channel_versions: { kept: 1, step: 1 } }, META, { kept: 1, step: 1 });
    expect((await b.getTuple(config))?.checkpoint.channel_values).toEqual({ kept: "from a", step: 1 });
    // b's next checkpoint changes only `step`: `kept` is carried from a's checkpoint.
    const second = await b.put(first, { ...checkpoint({ kept: "from a", step: 2 }), channel_versions: { kept: 1, step: 2 } }, { ...META, step: 1 }, { step: 2 });
    await b.putWrites(second, [["step", 3]], "t");
    const seen = await a.getTuple(config);
    expect(seen?.config.configurable?.checkpoint_id).toBe(second.configurable?.checkpoint_id);
    expect(seen?.checkpoint.channel_values).toEqual({ kept: "from a", step: 2 });
    expect(seen?.pendingWrites).toEqual([["t", "step", 3]]);
    expect(seen?.parentConfig?.configurable?.checkpoint_id).toBe(first.configurable?.checkpoint_id);
  });

  it("deletes only a thread's session: a session of the thread's name that is no thread is left alone", async () => {
    const other = await manager.create({ agent_id: "langgraph", name: "not-a-thread", context: { keep: true } });
    await saver().deleteThread("not-a-thread");
    expect((await manager.get(other.id)).context).toEqual({ keep: true });
  });

  it("writes a thread again after another saver deleted it: a new session, nothing of the old one", async () => {
    const a = saver();
    const b = saver();
    const config = { configurable: { thread_id: "again" } };
    await a.put(config, checkpoint({ old: true }), META, { old: 1 });
    const before = await manager.find("langgraph/again");
    await b.deleteThread("again");
    expect(await a.getTuple(config)).toBeUndefined();
    await b.put(config, checkpoint({ x: 0 }), META, { x: 1 });
    await b.deleteThread("again");
    // a still holds the thread's old session in its cache: its write finds it gone and creates the thread anew.
    const put = await a.put(config, checkpoint({ fresh: true }), META, { fresh: 1 });
    const after = await manager.find("langgraph/again");
    expect(after?.id).not.toBe(before?.id);
    expect(await all(b.list(config))).toHaveLength(1);
    expect((await b.getTuple(put))?.checkpoint.channel_values).toEqual({ fresh: true });
  });

  it("follows the thread's name, not the session it last read: a renamed session is no longer the thread", async () => {
    const s = saver();
    const config = { configurable: { thread_id: "renamed" } };
    await s.put(config, checkpoint({ v: "old" }), META, { v: 1 });
    expect((await s.getTuple(config))?.checkpoint.channel_values).toEqual({ v: "old" });
    await manager.update("langgraph/renamed", { name: "renamed-away" });
    expect(await s.getTuple(config)).toBeUndefined();
    await s.put(config, checkpoint({ v: "new" }), META, { v: 1 });
    expect((await s.getTuple(config))?.checkpoint.channel_values).toEqual({ v: "new" });
    expect((await manager.find("langgraph/renamed"))?.id).not.toBe((await manager.find("langgraph/renamed-away"))?.id);
  });

  it("keeps namespaces (subgraphs) apart on one thread, and lists them newest first with filters, before and limit", async () => {
    const s = saver();
    const root = await s.put({ configurable: { thread_id: "ns" } }, checkpoint({ r: 1 }), { source: "input", step: -1, parents: {} }, { r: 1 });
    const child = await s.put({ configurable: { thread_id: "ns", checkpoint_ns: "sub:1" } }, checkpoint({ c: 1 }), { source: "loop", step: 0, parents: { "": root.configurable!.checkpoint_id as string } }, { c: 1 });
    const root2 = await s.put(root, checkpoint({ r: 2 }), { source: "loop", step: 1, parents: {} }, { r: 1 });
    expect((await s.getTuple({ configurable: { thread_id: "ns" } }))?.config.configurable?.checkpoint_id).toBe(root2.configurable?.checkpoint_id);
    expect((await s.getTuple({ configurable: { thread_id: "ns", checkpoint_ns: "sub:1" } }))?.checkpoint.channel_values).toEqual({ c: 1 });
    const ids = (tuples: { config: { configurable?: Record<string, unknown> } }[]) => tuples.map((t) => t.config.configurable?.checkpoint_id);
    expect(ids(await all(s.list({ configurable: { thread_id: "ns" } })))).toEqual([root2, child, root].map((c) => c.configurable?.checkpoint_id));
    expect(ids(await all(s.list({ configurable: { thread_id: "ns", checkpoint_ns: "" } }, { limit: 1 })))).toEqual([root2.configurable?.checkpoint_id]);
    expect(ids(await all(s.list({ configurable: { thread_id: "ns" } }, { before: root2 })))).toEqual([child, root].map((c) => c.configurable?.checkpoint_id));
    expect(ids(await all(s.list({ configurable: { thread_id: "ns" } }, { filter: { parents: { "": root.configurable!.checkpoint_id } } })))).toEqual([child.configurable?.checkpoint_id]);
    expect(ids(await all(s.list({ configurable: { thread_id: "ns" } }, { filter: { source: "loop", step: 1 } })))).toEqual([root2.configurable?.checkpoint_id]);
  });

  it("names a thread's session after the thread, one to one, and keeps the thread id on it", async () => {
    const s = saver("my-agent");
    const uuid = "1ef4f797-8335-6428-8001-8a1503f9b875";
    const odd = `chat with spaces / and slashes ${"z".repeat(80)}`;
    for (const thread of ["support-42", uuid, `thread-${uuid}`, odd]) await s.put({ configurable: { thread_id: thread } }, checkpoint({ thread }), META, { thread: 1 });
    expect(threadSessionName("support-42")).toBe("support-42");
    expect(threadSessionName(uuid)).toBe(`thread-${uuid}`);
    expect(threadSessionName(`thread-${uuid}`)).toBe(`thread-thread-${uuid}`);
    expect(threadSessionName(odd)).toMatch(/^thread-h-[0-9a-f]{40}$/);
    const sessions = (await manager.list({ agent_id: "my-agent", type: "langgraph" })).items;
    expect(sessions.map((x) => x.metadata.langgraph).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)))).toEqual(
      [odd, uuid, "support-42", `thread-${uuid}`].map((thread) => ({ thread_id: thread })).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
    );
    for (const thread of ["support-42", uuid, `thread-${uuid}`, odd]) {
      expect((await s.getTuple({ configurable: { thread_id: thread } }))?.checkpoint.channel_values).toEqual({ thread });
    }
    // list() without a thread lists this agent's threads only, and a sessiond fork of a thread's
    // session (which copies its metadata, not its events) is not a thread.
    const source = (await manager.find("my-agent/support-42"))!;
    const marker = await manager.createCheckpoint(source.id, { label: "copy" });
    await manager.fork(source.id, marker.id, { name: "support-42-copy" });
    expect(await all(s.list({}))).toHaveLength(4);
    expect(await all(saver("someone-else").list({}))).toHaveLength(0);
  });

  it("migrates pending sends of a checkpoint older than format 4 from its parent's TASKS writes", async () => {
    const s = saver();
    const c0 = { ...checkpoint(), v: 1 };
    const first = await s.put({ configurable: { thread_id: "old" } }, c0, META, {});
    await s.putWrites(first, [[TASKS, "send-2"]], "task-b");
    await s.putWrites(first, [[TASKS, "send-1"]], "task-a");
    const second = await s.put(first, { ...checkpoint(), v: 1 }, META, {});
    expect((await saver().getTuple(second))?.checkpoint.channel_values[TASKS]).toEqual(["send-1", "send-2"]);
  });
});

describe("SessiondSaver with a serde of its own", () => {
  it("keeps what another serde writes as it wrote it (text), and reads it back through that serde", async () => {
    const home = tempHome();
    const manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
    try {
      // Not LangGraph's own class: its `json` output is not known to be JSON.stringify's.
      class Tagging extends JsonPlusSerializer {
        override async dumpsTyped(value: unknown): Promise<[string, Uint8Array]> {
          const [type, bytes] = await super.dumpsTyped(value);
          return [type, type === "json" ? Buffer.from(`tagged:${Buffer.from(bytes).toString()}`) : bytes];
        }
        override async loadsTyped(type: string, data: Uint8Array | string): Promise<unknown> {
          const text = typeof data === "string" ? data : Buffer.from(data).toString();
          return super.loadsTyped(type, type === "json" ? text.replace(/^tagged:/, "") : data);
        }
      }
      const s = new SessiondSaver({ manager, serde: new Tagging() });
      const put = await s.put({ configurable: { thread_id: "own-serde" } }, checkpoint({ a: [1, 2] }), META, { a: 1 });
      const [event] = await manager.listEvents((await manager.find("langgraph/own-serde"))!.id, { types: ["langgraph.checkpoint"] });
      expect((event!.data as Record<string, any>).values.a).toEqual({ type: "json", text: "tagged:[1,2]" });
      expect((await new SessiondSaver({ manager, serde: new Tagging() }).getTuple(put))?.checkpoint.channel_values).toEqual({ a: [1, 2] });
    } finally {
      await manager.close();
      home.remove();
    }
  });
});

describe("sessiond/langgraph without its peer", () => {
  const hidden = (packages: string) =>
    runNode([...TSX, "--import", join(ROOT, "test/adapters/langgraph/hide-peer.mjs"), join(ROOT, "test/adapters/langgraph/import-adapter.mts")], { env: { SESSIOND_TEST_HIDDEN_PACKAGES: packages } });

  it("fails the import with one error naming the package to install", async () => {
    const run = await hidden("@langchain/langgraph-checkpoint");
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      name: "Error",
      code: "ERR_MODULE_NOT_FOUND",
      message: "sessiond/langgraph needs @langchain/langgraph-checkpoint, an optional peer dependency of sessiond that is not installed: run npm install @langchain/langgraph-checkpoint",
    });
  });

  it("names every missing peer in the one error", async () => {
    const run = await hidden("@langchain/core,@langchain/langgraph-checkpoint");
    expect(JSON.parse(run.stdout).message).toBe(
      "sessiond/langgraph needs @langchain/langgraph-checkpoint and @langchain/core, optional peer dependencies of sessiond that are not installed: run npm install @langchain/langgraph-checkpoint @langchain/core",
    );
  });

  it("names @langchain/core when only it is missing (the checkpoint package needs it)", async () => {
    const run = await hidden("@langchain/core");
    expect(JSON.parse(run.stdout).message).toBe(
      "sessiond/langgraph needs @langchain/core, an optional peer dependency of sessiond that is not installed: run npm install @langchain/core",
    );
  });

  it("leaves sessiond itself importable: it does not load the adapter", async () => {
    const run = await runNode([...TSX, "--import", join(ROOT, "test/adapters/langgraph/hide-peer.mjs"), join(ROOT, "test/adapters/langgraph/import-adapter.mts"), "sessiond"], {
      env: { SESSIOND_TEST_HIDDEN_PACKAGES: "@langchain/core,@langchain/langgraph-checkpoint,@langchain/langgraph" },
    });
    expect(JSON.parse(run.stdout).loaded).toBeGreaterThan(10);
  });
});
