/**
 * Seed 002's context flow: `withSession(id, fn)` on AsyncLocalStorage, for the embedded API and
 * for the remote one (a real server on a loopback port), with `instrument`, and `currentSession()`
 * as seed 002's ContinuumContext.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as immediate, setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as embedded from "sessiond";
import { type ContinuumEnvironment, type SessionRecorder, type SessiondClient, SessiondError, currentSession, instrument, withSession } from "sessiond/client";
import { sessionPaths } from "../../src/drivers/workspace.js";
import { tempHome } from "../helpers/temp-home.js";
import { type TestServer, startServer } from "../server/harness.js";
import { connectClient } from "./support/connect.js";
import { waitFor } from "../events/support/wait.js";

type Event = { seq: number; type: string; data: Record<string, unknown> };

/** The calls each flavour offers, so one suite covers both. */
interface Flavour {
  /** What currentSession().environment is inside this flavour's withSession. */
  readonly environment: ContinuumEnvironment;
  start(task: string): Promise<{ id: string }>;
  withSession<T>(id: string, fn: () => T): T;
  recordToolCall(call: { tool: string; args?: unknown; result?: unknown }): Promise<unknown>;
  recordToolCallFor(id: string, tool: string, args: unknown, result?: unknown): Promise<unknown>;
  addEvent(type: string, data?: Record<string, unknown>): Promise<unknown>;
  addEventFor(id: string, type: string, data?: Record<string, unknown>): Promise<unknown>;
  history(id: string): Promise<Event[]>;
  toolsUsed(id: string): Promise<unknown>;
}

const flavours: { name: string; setup(): Promise<Flavour>; teardown(): Promise<void> }[] = [
  (() => {
    let home: ReturnType<typeof tempHome>;
    return {
      name: "embedded",
      async setup() {
        home = tempHome();
        embedded.configureSessions({ home: home.home });
        return {
          environment: "server",
          start: (task) => embedded.startSession(task, "tester"),
          withSession: embedded.withSession,
          recordToolCall: (call) => embedded.recordToolCall(call),
          recordToolCallFor: (id, tool, args, result) => embedded.recordToolCall(id, tool, args, result),
          addEvent: (type, data) => embedded.addEvent(type, data),
          addEventFor: (id, type, data) => embedded.addEvent(id, type, data),
          history: async (id) => embedded.getSession(id)!.history,
          toolsUsed: async (id) => embedded.getSession(id)!.metadata?.toolsUsed,
        };
      },
      async teardown() {
        await embedded.closeSessions();
        home.remove();
      },
    };
  })(),
  (() => {
    let server: TestServer;
    let client: SessiondClient;
    return {
      name: "remote",
      async setup() {
        server = await startServer();
        client = await connectClient(server);
        const remote = client.seed004;
        return {
          environment: "remote",
          start: (task) => remote.startSession(task, "tester"),
          withSession: (id, fn) => client.withSession(id, fn),
          recordToolCall: (call) => remote.recordToolCall(call),
          recordToolCallFor: (id, tool, args, result) => remote.recordToolCall(id, tool, args, result),
          addEvent: (type, data) => remote.addEvent(type, data),
          addEventFor: (id, type, data) => remote.addEvent(id, type, data),
          history: (id) => remote.getHistory(id),
          toolsUsed: async (id) => (await remote.getSession(id))!.metadata?.toolsUsed,
        };
      },
      async teardown() {
        await client.close();
        await server.close();
      },
    };
  })(),
];

const custom = (events: Event[]) => events.filter((e) => e.type !== "start").map((e) => ({ type: e.type, data: e.data }));

describe.each(flavours)("withSession, $name", (flavour) => {
  let api: Flavour;
  beforeAll(async () => {
    api = await flavour.setup();
  });
  afterAll(() => flavour.teardown());

  it("records tool calls and events without an id inside withSession, across awaits, timers and immediates", async () => {
    const s = await api.start("ambient");
    await api.withSession(s.id, async () => {
      expect(currentSession()?.sessionId).toBe(s.id);
      await api.addEvent("note", { at: "start" });
      await sleep(5);
      await api.recordToolCall({ tool: "bash", args: { command: "npm test" }, result: { exitCode: 0 } });
      await new Promise<void>((resolve, reject) => {
        setTimeout(() => {
          api.addEvent("note", { at: "timer" }).then(() => resolve(), reject);
        }, 1);
      });
      await immediate();
      await new Promise<void>((resolve, reject) => setImmediate(() => api.addEvent("note", { at: "immediate" }).then(() => resolve(), reject)));
    });
    expect(custom(await api.history(s.id))).toEqual([
      { type: "note", data: { at: "start" } },
      { type: "tool_call", data: { tool: "bash", args: { command: "npm test" }, result: { exitCode: 0 } } },
      { type: "note", data: { at: "timer" } },
      { type: "note", data: { at: "immediate" } },
    ]);
  });

  it("lets an inner session win while it runs and restores the outer one after it returns or throws", async () => {
    const outer = await api.start("outer");
    const inner = await api.start("inner");
    await api.withSession(outer.id, async () => {
      await api.addEvent("step", { n: 1 });
      await api.withSession(inner.id, async () => {
        expect(currentSession()?.sessionId).toBe(inner.id);
        await sleep(1);
        await api.addEvent("step", { n: 2 });
      });
      expect(currentSession()?.sessionId).toBe(outer.id);
      await api.addEvent("step", { n: 3 });
      const boom = new Error("inner failed");
      await expect(
        api.withSession(inner.id, async () => {
          await api.addEvent("step", { n: 4 });
          throw boom;
        }),
      ).rejects.toBe(boom);
      await api.addEvent("step", { n: 5 });
    });
    expect(currentSession()).toBeUndefined();
    expect(custom(await api.history(outer.id)).map((e) => e.data.n)).toEqual([1, 3, 5]);
    expect(custom(await api.history(inner.id)).map((e) => e.data.n)).toEqual([2, 4]);
  });

  it("answers seed 002's ContinuumContext: the session, the environment and the nested scopes outermost first", async () => {
    const outer = await api.start("outer context");
    const inner = await api.start("inner context");
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
    await api.withSession(outer.id, async () => {
      const top = currentSession()!;
      expect(top).toMatchObject({ sessionId: outer.id, environment: api.environment });
      expect(top.executionStack).toEqual([{ sessionId: outer.id, environment: api.environment, startedAt: expect.stringMatching(iso) }]);
      await api.withSession(inner.id, async () => {
        await sleep(1);
        const nested = currentSession()!;
        expect(nested.sessionId).toBe(inner.id);
        expect(nested.executionStack.map((f) => f.sessionId)).toEqual([outer.id, inner.id]);
        expect(nested.executionStack[0]).toEqual(top.executionStack[0]);
        // A scope that says what the code runs as; the records still go where the outer scope's do.
        await withSession(
          inner.id,
          async () => {
            const persona = currentSession()!;
            expect(persona.environment).toBe("persona");
            expect(persona.executionStack.map((f) => f.environment)).toEqual([api.environment, api.environment, "persona"]);
            await api.addEvent("as_persona", {});
          },
          { environment: "persona" },
        );
      });
      expect(currentSession()!.executionStack.map((f) => f.sessionId)).toEqual([outer.id]);
    });
    expect(currentSession()).toBeUndefined();
    expect(custom(await api.history(inner.id)).map((e) => e.type)).toEqual(["as_persona"]);
  });

  it("keeps concurrent scopes apart while their awaits interleave", async () => {
    const a = await api.start("a");
    const b = await api.start("b");
    const run = (id: string, label: string, delays: number[]) =>
      api.withSession(id, async () => {
        for (const [i, delay] of delays.entries()) {
          await sleep(delay);
          expect(currentSession()!.executionStack.map((f) => f.sessionId)).toEqual([id]);
          await api.addEvent("tick", { label, i });
        }
      });
    await Promise.all([run(a.id, "a", [3, 0, 2, 0]), run(b.id, "b", [0, 3, 0, 2])]);
    expect(custom(await api.history(a.id)).map((e) => e.data.label)).toEqual(["a", "a", "a", "a"]);
    expect(custom(await api.history(b.id)).map((e) => e.data.label)).toEqual(["b", "b", "b", "b"]);
  });

  it("refuses the id-less forms outside any scope with no_session_context", async () => {
    expect(currentSession()).toBeUndefined();
    const refused = await api.addEvent("note", {}).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SessiondError);
    expect(refused).toMatchObject({ code: "no_session_context", status: 400 });
    await expect(api.recordToolCall({ tool: "bash" })).rejects.toMatchObject({ code: "no_session_context" });
  });

  it("still takes seed 004's explicit session id inside a scope, recording into the named session", async () => {
    const scoped = await api.start("scoped");
    const named = await api.start("named");
    await api.withSession(scoped.id, async () => {
      await api.addEventFor(named.id, "custom_event", { customField: "value" });
      await api.recordToolCallFor(named.id, "grep", { pattern: "x" }, { matches: 2 });
    });
    expect(custom(await api.history(scoped.id))).toEqual([]);
    expect(custom(await api.history(named.id))).toEqual([
      { type: "custom_event", data: { customField: "value" } },
      { type: "tool_call", data: { tool: "grep", args: { pattern: "x" }, result: { matches: 2 } } },
    ]);
  });

  it("instrument records a tool_call with arguments, result and duration_ms, and returns the result", async () => {
    const s = await api.start("instrumented");
    const add = instrument(async (a: number, b: number) => {
      await sleep(2);
      return a + b;
    }, "add");
    const lookup = instrument((query: { q: string }) => ({ hits: query.q.length }), "lookup");
    const sum = await api.withSession(s.id, async () => {
      const value = await add(2, 3);
      expect(lookup({ q: "abc" })).toEqual({ hits: 3 });
      return value;
    });
    expect(sum).toBe(5);
    const calls = await waitFor("both tool calls", async () => {
      const found = custom(await api.history(s.id)).filter((e) => e.type === "tool_call");
      return found.length === 2 ? found : undefined;
    });
    expect(calls[0]!.data).toMatchObject({ tool: "add", args: [2, 3], result: 5 });
    expect(calls[1]!.data).toMatchObject({ tool: "lookup", args: { q: "abc" }, result: { hits: 3 } });
    for (const call of calls) {
      expect(call.data.duration_ms).toEqual(expect.any(Number));
      expect(call.data.duration_ms as number).toBeGreaterThanOrEqual(0);
    }
    expect(await api.toolsUsed(s.id)).toEqual(["add", "lookup"]);
  });

  it("instrument rethrows a tool's error unchanged (sync and async) and records it", async () => {
    const s = await api.start("failing tools");
    class ToolError extends Error {
      readonly code = "E_TOOL";
    }
    const asyncError = new ToolError("disk full");
    const syncError = new TypeError("bad input");
    const write = instrument(async (_path: string) => {
      throw asyncError;
    }, "write_file");
    const parse = instrument((_text: string): never => {
      throw syncError;
    }, "parse");
    await api.withSession(s.id, async () => {
      await expect(write("a.txt")).rejects.toBe(asyncError);
      expect(() => parse("{")).toThrow(syncError);
    });
    const calls = await waitFor("both failed calls", async () => {
      const found = custom(await api.history(s.id)).filter((e) => e.type === "tool_call");
      return found.length === 2 ? found : undefined;
    });
    expect(calls.map((c) => c.data)).toEqual([
      { tool: "write_file", args: "a.txt", error: { name: "Error", message: "disk full", code: "E_TOOL" }, duration_ms: expect.any(Number) },
      { tool: "parse", args: "{", error: { name: "TypeError", message: "bad input" }, duration_ms: expect.any(Number) },
    ]);
    expect(await api.toolsUsed(s.id)).toEqual(["write_file", "parse"]);
  });

  it("instrument calls straight through, unrecorded, outside any scope", async () => {
    const s = await api.start("unscoped");
    let calls = 0;
    const tool = instrument(async () => ++calls, "count");
    expect(await tool()).toBe(1);
    await api.withSession(s.id, () => tool());
    await waitFor("the scoped call", async () => custom(await api.history(s.id)).length === 1);
    expect(calls).toBe(2);
    expect(custom(await api.history(s.id))).toEqual([{ type: "tool_call", data: { tool: "count", args: [], result: 2, duration_ms: expect.any(Number) } }]);
  });
});

describe("currentSession().sessionPaths", () => {
  let server: TestServer;
  let client: SessiondClient;
  beforeAll(async () => {
    server = await startServer();
    client = await connectClient(server);
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it("names the folders the server keeps the session's artifacts in, through a recorder that knows the data dir", async () => {
    const session = await server.manager.create({ agent_id: "claude", user_id: "joel" });
    // What the embedded API's recorder does: it knows its config, and finds the session by ref.
    const recorder: SessionRecorder = {
      recordToolCall: async () => undefined,
      addEvent: async () => undefined,
      sessionPaths: (ref) => {
        const found = server.manager.findSync(ref);
        return found && sessionPaths(server.config, found);
      },
    };
    const put = await server.request({ method: "PUT", url: `/sessions/${session.id}/artifacts/screenshots/shot.png`, body: "png bytes", headers: { "content-type": "image/png" } });
    expect(put.statusCode).toBe(201);
    const paths = withSession(session.id, () => currentSession()!.sessionPaths, recorder)!;
    expect(Object.keys(paths).sort()).toEqual(["devtools", "files", "logs", "recordings", "root", "screenshots"]);
    expect(paths.root).toBe(join(server.home, "workspaces", `${session.name}@${session.id}`));
    expect(readFileSync(join(paths.screenshots, "shot.png"), "utf8")).toBe("png bytes");
    for (const category of ["logs", "files", "recordings", "devtools"] as const) expect(paths[category]).toBe(join(paths.root, category));
    // A ref the recorder cannot resolve leaves them out rather than failing.
    expect(withSession("no-such-session", () => currentSession(), recorder)).not.toHaveProperty("sessionPaths");
  });

  it("names them through the embedded API, which knows its data dir", async () => {
    const home = tempHome();
    try {
      embedded.configureSessions({ home: home.home });
      const s = await embedded.startSession("embedded paths", "tester");
      const context = embedded.withSession(s.id, () => currentSession()!);
      expect(context).toMatchObject({ sessionId: s.id, environment: "server" });
      expect(context.sessionPaths?.root).toBe(join(home.home, "workspaces", s.name));
      expect(context.sessionPaths?.logs).toBe(join(home.home, "workspaces", s.name, "logs"));
      expect(embedded.withSession(s.id, () => currentSession()!.environment, { environment: "persona" })).toBe("persona");
    } finally {
      await embedded.closeSessions();
      home.remove();
    }
  });

  it("leaves them out over a remote client, which does not know where its server keeps files", async () => {
    const s = await client.seed004.startSession("remote paths", "tester");
    const context = client.withSession(s.id, () => currentSession()!);
    expect(context).toMatchObject({ sessionId: s.id, environment: "remote" });
    expect(context).not.toHaveProperty("sessionPaths");
    expect(client.withSession(s.id, () => currentSession()!.environment, { environment: "agent" })).toBe("agent");
    expect(() => withSession(s.id, () => 1, { environment: "moon" as "agent" })).toThrow(expect.objectContaining({ code: "validation", field: "environment" }));
  });
});
