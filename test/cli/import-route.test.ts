import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "../server/harness.js";

const AGENT_TOKEN = "agent-a-token-0123456789-abcdefghij";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const body = (id: string, events = [
  { seq: 1, ts: "2025-01-01T00:00:00.000Z", type: "start", data: {} },
  { seq: 2, ts: "2025-01-01T00:01:00.000Z", type: "note", data: { n: 1 } },
]) => ({ session: { id, name: `n-${id}`, status: "paused", iterations: 3, created_at: "2025-01-01T00:00:00.000Z", version: 7 }, events });

describe("POST /import/sessions", () => {
  it("stores a session with its history as it was, then leaves it alone on a second import (201, then 200)", async () => {
    server = await startServer();
    const first = await server.json({ method: "POST", url: "/import/sessions", body: body("old-1") });
    expect(first).toMatchObject({ status: 201, body: { id: "old-1", name: "n-old-1", imported: true } });
    await server.json({ method: "POST", url: "/sessions/old-1/events", body: { type: "later", data: {} } });
    const second = await server.json({ method: "POST", url: "/import/sessions", body: body("old-1", []) });
    expect(second).toMatchObject({ status: 200, body: { imported: false } });
    const s = await server.json({ method: "GET", url: "/sessions/old-1" });
    expect(s.body).toMatchObject({ status: "paused", iterations: 3, created_at: "2025-01-01T00:00:00.000Z", last_seq: 3, version: 7 });
    const events = await server.json({ method: "GET", url: "/sessions/old-1/events" });
    expect(events.body.map((e: { seq: number; ts: string }) => [e.seq, e.ts.slice(0, 4)])).toEqual([
      [1, "2025"],
      [2, "2025"],
      [3, "2026"],
    ]);
  });

  it("refuses a gap in the seqs naming the event, and a name another session has", async () => {
    server = await startServer();
    const gap = await server.json({ method: "POST", url: "/import/sessions", body: body("old-2", [{ seq: 2, ts: "2025-01-01T00:00:00.000Z", type: "start", data: {} }]) });
    expect(gap).toMatchObject({ status: 400, body: { error: { code: "validation", field: "events.0.seq" } } });
    await server.json({ method: "POST", url: "/sessions/", body: { name: "n-old-3" } });
    const taken = await server.json({ method: "POST", url: "/import/sessions", body: body("old-3") });
    expect(taken).toMatchObject({ status: 409, body: { error: { code: "conflict", field: "name" } } });
    expect((await server.json({ method: "GET", url: "/sessions/old-2" })).status).toBe(404);
  });

  it("is for admins only", async () => {
    server = await startServer({ tokens: [{ token: AGENT_TOKEN, role: "agent", agent_id: "agent-a", name: "agent-a" }] });
    const res = await server.json({ method: "POST", url: "/import/sessions", body: body("old-4"), token: AGENT_TOKEN });
    expect(res).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
  });
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Writes a session folder's files (JSON) into a fresh temp dir; `mtimes` sets a file's modification time. */
function folder(files: Record<string, unknown>, mtimes: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "sessiond-import-files-"));
  dirs.push(dir);
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === "string" ? content : JSON.stringify(content, null, 2));
    if (mtimes[name]) utimesSync(join(dir, name), new Date(mtimes[name]), new Date(mtimes[name]));
  }
  return dir;
}

/** A folder's files as a client sends them: name, parsed JSON, mtime. */
function filesOf(dir: string, options: { mtime?: boolean } = {}) {
  return readdirSync(dir)
    .sort()
    .map((name) => ({
      name,
      content: JSON.parse(readFileSync(join(dir, name), "utf8")) as unknown,
      ...(options.mtime === false ? {} : { mtime: statSync(join(dir, name)).mtime.toISOString() }),
    }));
}

describe("POST /import/sessions with a session's files", () => {
  const exec = (over: Record<string, unknown> = {}) => ({ input: "ls", output: "a\n", exitCode: 0, timestamp: "2026-04-05T06:00:01.000Z", ...over });

  it("reads seed 000's meta.json {id, mode, server, state} with its mtime, and execs with output, exitCode and timestamp", async () => {
    server = await startServer();
    const dir = folder(
      { "meta.json": { id: "act-1", mode: "typescript", server: "local", state: { cwd: "/w" } }, "01-exec.json": exec(), "02-exec.json": exec({ input: "boom", output: "", exitCode: 7, timestamp: "2026-04-05T06:00:02.000Z" }) },
      { "meta.json": "2026-04-05T06:00:00.000Z" },
    );
    const res = await server.json({ method: "POST", url: "/import/sessions", body: { layout: "activity", files: filesOf(dir) } });
    expect(res).toMatchObject({ status: 201, body: { id: "act-1", imported: true } });
    const s = await server.json({ method: "GET", url: "/sessions/act-1" });
    expect(s.body).toMatchObject({ kind: "typescript", mode: "typescript", server: "local", status: "crashed", runtime_metadata: { cwd: "/w" }, created_at: "2026-04-05T06:00:00.000Z", last_activity_at: "2026-04-05T06:00:02.000Z", last_seq: 3 });
    const events = await server.json({ method: "GET", url: "/sessions/act-1/events" });
    expect(events.body.map((e: { seq: number; type: string; ts: string; data: Record<string, unknown> }) => [e.seq, e.type, e.ts, e.data.stdout, e.data.exit_code, e.data.status])).toEqual([
      [1, "start", "2026-04-05T06:00:00.000Z", undefined, undefined, undefined],
      [2, "exec", "2026-04-05T06:00:01.000Z", "a\n", 0, "ok"],
      [3, "exec", "2026-04-05T06:00:02.000Z", "", 7, "error"],
    ]);
  });

  it("reads seed 004's session.json", async () => {
    server = await startServer();
    const dir = folder({ "session.json": { id: "s4-1", mode: "developer", task: "", status: "failed", createdAt: "2025-05-01T00:00:00.000Z", updatedAt: "2025-05-01T01:00:00.000Z", iterations: 1, maxIterations: 5, error: "Build failed", history: [{ timestamp: "2025-05-01T00:00:00.000Z", type: "start", data: {} }] } });
    expect((await server.json({ method: "POST", url: "/import/sessions", body: { layout: "sessions", files: filesOf(dir) } })).status).toBe(201);
    const s = await server.json({ method: "GET", url: "/sessions/s4-1" });
    expect(s.body).toMatchObject({ kind: "agent", mode: "developer", task: "", status: "failed", error: "Build failed", iterations: 1, max_iterations: 5, ended_at: "2025-05-01T01:00:00.000Z" });
  });

  it("refuses an unknown mode and fields of the wrong type with 400 naming the file and the field; nothing of that session is stored, nothing imported before is lost", async () => {
    server = await startServer();
    const meta = (over: Record<string, unknown> = {}) => ({ id: "kept-1", mode: "shell", server: "local", state: {}, startedAt: "2026-04-05T06:00:00.000Z", ...over });
    const good = folder({ "meta.json": meta(), "01-exec.json": exec() });
    expect((await server.json({ method: "POST", url: "/import/sessions", body: { layout: "activity", files: filesOf(good) } })).status).toBe(201);
    const before = await server.json({ method: "GET", url: "/sessions/kept-1/events" });
    expect(before.body).toHaveLength(2);

    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ["activity", { "meta.json": meta({ id: "r-mode", mode: "ruby" }) }, "files.0.content.mode", /meta\.json mode: "ruby" is not a mode sessiond runs: expected one of shell, python, typescript, llm/],
      ["activity", { "meta.json": meta({ id: "r-state", state: 5 }) }, "files.0.content.state", /meta\.json state: expected an object, got 5/],
      ["activity", { "01-exec.json": exec(), "02-exec.json": exec({ exitCode: "zero" }), "meta.json": meta({ id: "r-exit" }) }, "files.1.content.exitCode", /02-exec\.json exitCode: expected an integer or null, got "zero"/],
      ["activity", { "01-exec.json": exec({ timestamp: "yesterday" }), "meta.json": meta({ id: "r-time" }) }, "files.0.content.timestamp", /01-exec\.json timestamp: expected an ISO 8601 timestamp, got "yesterday"/],
      ["activity", { "01-exec.json": exec({ output: 42 }), "meta.json": meta({ id: "r-out" }) }, "files.0.content.output", /01-exec\.json output: expected a string, got 42/],
      ["activity", { "meta.json": meta({ id: "r-end", endedAt: 1 }) }, "files.0.content.endedAt", /meta\.json endedAt: expected an ISO 8601 timestamp/],
      // A string the stores cannot keep (NUL), in the file as sent.
      ["activity", { "01-exec.json": exec({ output: "a\u0000b" }), "meta.json": meta({ id: "r-nul" }) }, "files.0.content.output", /U\+0000/],
      ["activity", { "01-exec.json": exec(), "03-exec.json": exec(), "meta.json": meta({ id: "r-gap" }) }, "files.1.name", /03-exec\.json is number 2/],
      ["activity", { "01-exec.json": exec(), "notes.txt.json": {}, "meta.json": meta({ id: "r-name" }) }, "files.2.name", /notes\.txt\.json: the activity layout has meta\.json and 01-exec\.json/],
      ["activity", { "01-exec.json": exec() }, "files", /the activity layout needs meta\.json/],
      ["sessions", { "session.json": { id: "r-status", status: 5, createdAt: "2026-04-05T06:00:00.000Z" } }, "files.0.content.status", /session\.json status: expected a non-empty string, got 5/],
      ["sessions", { "session.json": { id: "r-iter", status: "active", createdAt: "2026-04-05T06:00:00.000Z", iterations: "two" } }, "files.0.content.iterations", /session\.json iterations: expected an integer from 0, got "two"/],
      ["sessions", { "session.json": { id: "r-hist", status: "active", createdAt: "2026-04-05T06:00:00.000Z", history: [{ timestamp: "2026-04-05T06:00:00.000Z" }] } }, "files.0.content.history.0.type", /session\.json history\.0\.type: missing/],
      ["sessions", { "session.json": [1, 2] }, "files.0.content", /session\.json: expected a JSON object/],
    ];
    for (const [layout, files, field, message] of cases) {
      const res = await server.json({ method: "POST", url: "/import/sessions", body: { layout, files: filesOf(folder(files)) } });
      expect(res.status, field).toBe(400);
      expect(res.body.error, field).toMatchObject({ code: "validation", field });
      expect(res.body.error.message, field).toMatch(message);
    }
    const list = await server.json({ method: "GET", url: "/sessions/" });
    expect(list.body.map((s: { id: string }) => s.id)).toEqual(["kept-1"]);
    expect((await server.json({ method: "GET", url: "/sessions/kept-1/events" })).body).toEqual(before.body);
  });

  it("names the exec file whose event is over the event size limit (413)", async () => {
    server = await startServer({ maxEventBytes: 4096 });
    const dir = folder({ "meta.json": { id: "big-1", mode: "shell", startedAt: "2026-04-05T06:00:00.000Z" }, "01-exec.json": exec(), "02-exec.json": exec({ output: "x".repeat(8192) }) });
    const res = await server.json({ method: "POST", url: "/import/sessions", body: { layout: "activity", files: filesOf(dir) } });
    expect(res).toMatchObject({ status: 413, body: { error: { code: "too_large", field: "files.1.content" } } });
    expect(res.body.error.message).toMatch(/^02-exec\.json \(as imported, events\.2\.data\) is \d+ bytes, over the limit of 4096 bytes$/);
    expect((await server.json({ method: "GET", url: "/sessions/big-1" })).status).toBe(404);
  });

  it("asks for the mtime of a file that holds no time when none was sent, and names a malformed body by the form it comes closest to", async () => {
    server = await startServer();
    const dir = folder({ "meta.json": { id: "no-time", mode: "shell", server: "local", state: {} } });
    const res = await server.json({ method: "POST", url: "/import/sessions", body: { layout: "activity", files: filesOf(dir, { mtime: false }) } });
    expect(res).toMatchObject({ status: 400, body: { error: { code: "validation", field: "files.0.mtime" } } });
    expect(res.body.error.message).toMatch(/meta\.json holds no startedAt, .* and no mtime was sent/);
    const layout = await server.json({ method: "POST", url: "/import/sessions", body: { layout: "zip", files: filesOf(dir) } });
    expect(layout).toMatchObject({ status: 400, body: { error: { field: "layout" } } });
    expect(layout.body.error.message).toMatch(/expected one of sessions, activity/);
    const empty = await server.json({ method: "POST", url: "/import/sessions", body: { layout: "activity" } });
    expect(empty).toMatchObject({ status: 400, body: { error: { field: "files" } } });
    const badTime = await server.json({ method: "POST", url: "/import/sessions", body: { layout: "activity", files: [{ name: "meta.json", content: {}, mtime: "" }] } });
    expect(badTime).toMatchObject({ status: 400, body: { error: { field: "files.0.mtime" } } });
    expect((await server.json({ method: "GET", url: "/sessions/no-time" })).status).toBe(404);
  });
});
