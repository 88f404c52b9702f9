import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Session } from "../../src/core/index.js";
import type { SessionManager } from "../../src/engine/index.js";
import { type RequestOptions, type TestServer, startServer } from "./harness.js";

/**
 * Every value one store would refuse (or change) and the other keep is refused at validation,
 * with the same 400 naming the field on both stores (this suite also runs with the server on
 * PostgreSQL), and by the engine with the same error: NUL in any string, lone surrogates, counts
 * past 2^53 - 1, indexed text past 1024 bytes. docs/api.md#what-a-store-keeps lists the rules.
 */

const NUL = "\u0000";
const LONE = "\ud800";
const TOO_BIG = 2 ** 53;

let server: TestServer;
let target: Session;

beforeAll(async () => {
  server = await startServer({ rateLimitMax: 0 });
  target = (await server.json({ method: "POST", url: "/sessions/", body: { name: "target", context: { keep: true } } })).body;
});
afterAll(async () => {
  await server.close();
});

interface Case {
  readonly what: string;
  readonly field: string;
  readonly request: (s: Session) => RequestOptions;
  /** The same value through the engine (the embedded API's path), when it takes it. */
  readonly engine?: (m: SessionManager, s: Session) => unknown;
}

const post = (url: string, body: unknown): RequestOptions => ({ method: "POST", url, body });
const patch = (s: Session, body: unknown): RequestOptions => ({ method: "PATCH", url: `/sessions/${s.id}`, body });
const importBody = (session: Record<string, unknown>, events: unknown[] = []) => ({
  session: { id: "imported-1", created_at: "2025-01-01T00:00:00.000Z", ...session },
  events,
});
const cursorOf = (position: unknown) => Buffer.from(JSON.stringify(position)).toString("base64url");

/** An array `depth` levels deep, and the field path of its innermost level as the 400 names it. */
const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);
const DEEP_FIELD = ["context", "a", ...Array.from({ length: 510 }, () => "0")].join(".");

const cases: Case[] = [
  {
    // Deep enough to overflow a recursive walk (a 500) had the depth not been refused first.
    what: "a context nested 10,000 levels deep",
    field: DEEP_FIELD,
    request: () => ({ ...post("/sessions/", `{"context":{"a":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`), headers: { "content-type": "application/json" } }),
    engine: (m) => m.create({ context: { a: nested(600) } as never }),
  },
  {
    // Long enough that JSON.parse alone would hold the event loop for a second: refused unparsed.
    what: "a body of a few MiB nested 2,000,000 levels deep",
    field: "body",
    request: () => ({ ...post("/sessions/", `{"context":{"a":${"[".repeat(2_000_000)}${"]".repeat(2_000_000)}}}`), headers: { "content-type": "application/json" } }),
  },
  { what: "a NUL in a name", field: "name", request: () => post("/sessions/", { name: `a${NUL}b` }), engine: (m) => m.create({ name: `a${NUL}b` }) },
  { what: "a NUL in the task", field: "task", request: () => post("/sessions/", { task: `fix ${NUL}` }), engine: (m) => m.create({ task: `fix ${NUL}` }) },
  { what: "a lone surrogate in the task", field: "task", request: () => post("/sessions/", { task: `x${LONE}` }), engine: (m) => m.create({ task: `x${LONE}` }) },
  { what: "a NUL in an agent_id", field: "agent_id", request: () => post("/sessions/", { agent_id: NUL }), engine: (m) => m.create({ agent_id: NUL }) },
  { what: "a NUL in a label value", field: "labels.env", request: () => post("/sessions/", { labels: { env: `a${NUL}` } }), engine: (m) => m.create({ labels: { env: `a${NUL}` } }) },
  { what: "a NUL in a label key", field: "labels", request: () => post("/sessions/", { labels: { [`e${NUL}`]: "x" } }), engine: (m) => m.create({ labels: { [`e${NUL}`]: "x" } }) },
  {
    what: "a NUL deep in the context",
    field: "context.a.b.1",
    request: () => post("/sessions/", { context: { a: { b: ["ok", `x${NUL}`] } } }),
    engine: (m) => m.create({ context: { a: { b: ["ok", `x${NUL}`] } } }),
  },
  { what: "a NUL in a context key", field: "context.a", request: (s) => patch(s, { context: { a: { [`k${NUL}`]: 1 } } }), engine: (m, s) => m.update(s.id, { context: { a: { [`k${NUL}`]: 1 } } }) },
  { what: "a lone low surrogate in metadata", field: "metadata.note", request: (s) => patch(s, { metadata: { note: "\udc00" } }), engine: (m, s) => m.update(s.id, { metadata: { note: "\udc00" } }) },
  { what: "a NUL in a context patch", field: "context_patch.a", request: (s) => patch(s, { context_patch: { a: NUL } }), engine: (m, s) => m.updateContext(s.id, { a: NUL }, { merge: true }) },
  {
    what: "a NUL in a merge patch of the session",
    field: "context.a",
    request: (s) => ({ method: "PATCH", url: `/sessions/${s.id}`, body: JSON.stringify({ context: { a: NUL } }), headers: { "content-type": "application/merge-patch+json" } }),
  },
  { what: "a NUL in the error field", field: "error", request: (s) => patch(s, { error: NUL }), engine: (m, s) => m.update(s.id, { error: NUL }) },
  { what: "a NUL in a result", field: "result.out", request: (s) => post(`/sessions/${s.id}/complete`, { result: { out: NUL } }), engine: (m, s) => m.complete(s.id, { out: NUL }) },
  { what: "a NUL in a failure's error", field: "error", request: (s) => post(`/sessions/${s.id}/fail`, { error: `x${NUL}` }), engine: (m, s) => m.fail(s.id, `x${NUL}`) },
  { what: "a NUL in a pause reason", field: "reason", request: (s) => post(`/sessions/${s.id}/pause`, { reason: NUL }), engine: (m, s) => m.pause(s.id, NUL) },
  {
    what: "a NUL in event data",
    field: "data.deep.0.s",
    request: (s) => post(`/sessions/${s.id}/events`, { type: "note", data: { deep: [{ s: NUL }] } }),
    engine: (m, s) => m.appendEvent(s.id, "note", { deep: [{ s: NUL }] }),
  },
  { what: "a lone surrogate in iteration data", field: "data.x", request: (s) => post(`/sessions/${s.id}/iterations`, { data: { x: LONE } }), engine: (m, s) => m.incrementIteration(s.id, { x: LONE }) },
  { what: "a NUL in a checkpoint label", field: "label", request: (s) => post(`/sessions/${s.id}/checkpoints`, { label: NUL }), engine: (m, s) => m.createCheckpoint(s.id, { label: NUL }) },
  { what: "a NUL in checkpoint data", field: "data.x", request: (s) => post(`/sessions/${s.id}/checkpoints`, { data: { x: NUL } }), engine: (m, s) => m.createCheckpoint(s.id, { data: { x: NUL } }) },
  {
    what: "a NUL in a tool call's arguments",
    field: "args.path",
    request: (s) => post(`/sessions/${s.id}/tool-calls`, { tool: "read", args: { path: `a${NUL}` } }),
    engine: (m, s) => m.recordToolCall(s.id, "read", { path: `a${NUL}` }),
  },
  { what: "max_iterations past 2^53 - 1", field: "max_iterations", request: () => post("/sessions/", { max_iterations: 1e23 }), engine: (m) => m.create({ max_iterations: 1e23 }) },
  { what: "max_iterations of 2^53", field: "max_iterations", request: (s) => patch(s, { max_iterations: TOO_BIG }), engine: (m, s) => m.update(s.id, { max_iterations: TOO_BIG }) },
  { what: "an expected version past 2^53 - 1", field: "version", request: (s) => post(`/sessions/${s.id}/events`, { type: "note", version: 1e23 }) },
  {
    what: "after_seq past 2^53 - 1",
    field: "after_seq",
    request: (s) => ({ method: "GET", url: `/sessions/${s.id}/events?after_seq=${TOO_BIG}` }),
    engine: (m, s) => m.listEvents(s.id, { after_seq: TOO_BIG }),
  },
  { what: "to_seq in exponent notation", field: "to_seq", request: (s) => ({ method: "GET", url: `/sessions/${s.id}/events?to_seq=1e23` }), engine: (m, s) => m.listEvents(s.id, { to_seq: 1e23 }) },
  { what: "a state seq past 2^53 - 1", field: "seq", request: (s) => ({ method: "GET", url: `/sessions/${s.id}/state?seq=${TOO_BIG}` }), engine: (m, s) => m.stateAt(s.id, TOO_BIG) },
  {
    what: "a type over 1024 bytes of UTF-8 (PostgreSQL cannot index it)",
    field: "type",
    request: () => post("/sessions/", { type: "中".repeat(400) }),
    engine: (m) => m.create({ type: "中".repeat(400) }),
  },
  { what: "a session_type over 1024 bytes of UTF-8", field: "session_type", request: () => post("/sessions/", { session_type: "中".repeat(400) }) },
  { what: "a NUL in a list filter", field: "agent_id", request: () => ({ method: "GET", url: "/sessions/?agent_id=a%00" }) },
  { what: "a NUL in a session reference", field: "id", request: () => ({ method: "GET", url: "/sessions/a%00b" }) },
  { what: "a cursor that decodes to a NUL", field: "cursor", request: () => ({ method: "GET", url: `/sessions/?cursor=${cursorOf([NUL, "x"])}` }) },
  {
    what: "imported iterations past 2^53 - 1",
    field: "session.iterations",
    request: () => post("/import/sessions", importBody({ iterations: 1e23 })),
    engine: (m) => m.importSession(importBody({ iterations: 1e23 }) as never),
  },
  {
    what: "a NUL in an imported event's data",
    field: "events.0.data.x",
    request: () => post("/import/sessions", importBody({}, [{ seq: 1, ts: "2025-01-01T00:00:00.000Z", type: "start", data: { x: NUL } }])),
    engine: (m) => m.importSession(importBody({}, [{ seq: 1, ts: "2025-01-01T00:00:00.000Z", type: "start", data: { x: NUL } }]) as never),
  },
];

describe("values a store would refuse", () => {
  it.each(cases)("refuses $what with a 400 naming $field", async ({ field, request }) => {
    const res = await server.json(request(target));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "validation", field });
  });

  it.each(cases.filter((c) => c.engine))("refuses $what through the engine with the same error", async ({ field, engine }) => {
    const outcome = await Promise.resolve()
      .then(() => engine!(server.manager, target))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(outcome).toMatchObject({ code: "validation", status: 400, field });
  });

  it("leaves the session as it was after every refused write", async () => {
    const now = (await server.json({ method: "GET", url: `/sessions/${target.id}` })).body;
    expect(now).toMatchObject({ version: target.version, last_seq: target.last_seq, status: "active", context: { keep: true }, task: null, error: null });
    expect((await server.json({ method: "GET", url: `/sessions/${target.id}/events` })).body).toHaveLength(target.last_seq);
    expect((await server.json({ method: "GET", url: "/sessions/imported-1" })).status).toBe(404);
  });
});

describe("values at the edge of the rules", () => {
  it("keeps them exactly, on either store: 2^53 - 1, 1024 bytes, paired surrogates, a backslash before u0000", async () => {
    const body = {
      max_iterations: Number.MAX_SAFE_INTEGER,
      type: "x".repeat(1024),
      mode: "中".repeat(341),
      task: "ship it 🚀",
      labels: { icon: "🚀" },
      context: { text: "\\u0000 is six characters here", emoji: ["🚀", "𝄞"], "🔑": "key with a pair" },
    };
    const created = await server.json({ method: "POST", url: "/sessions/", body });
    expect(created.status).toBe(201);
    const event = await server.json({ method: "POST", url: `/sessions/${created.body.id}/events`, body: { type: "note", data: body.context } });
    expect(event.status).toBe(201);
    // Read back from the store itself, not the engine's memory.
    await server.manager.flush();
    expect(await server.store.getSession(created.body.id)).toMatchObject(body);
    const events = (await server.json({ method: "GET", url: `/sessions/${created.body.id}/events` })).body;
    expect(events.at(-1).data).toEqual(body.context);
  });
});
