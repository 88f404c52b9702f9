import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { alive, eventually } from "../drivers/harness.js";
import { perTest } from "../streams/harness.js";
import { type TestServer, startServer } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const AGENT = "agent-a-token-0123456789-abcdefghij";
const OTHER = "agent-b-token-0123456789-abcdefghij";
const READER = "reader-token-0123456789-abcdefghij";

describe("interpreter state over HTTP: checkpoints, restore, fork, undo, hibernate", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** Runs one cell and returns its answer (status checked). */
  const run = async (id: string, input: string, extra: Record<string, unknown> = {}) => {
    const res = await server!.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input, ...extra } });
    expect(res.status).toBe(200);
    return res.body;
  };

  it("shows the interpreter a checkpoint holds, and a restore rebuilds it, reporting what it could not run in the answer and the events", async () => {
    server = await startServer({ enableSessions: true });
    const id = (await server.json({ method: "POST", url: "/sessions", body: { kind: "python" } })).body.id as string;
    await run(id, "x = 1");
    const sent = await run(id, "sent = True", { replay: false });
    expect(sent.replay).toBe(false);
    const cp = await server.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: { label: "before" } });
    expect(cp.status).toBe(201);
    expect(cp.body.interpreter).toEqual({ kind: "python", seq: cp.body.seq, cells: 2, replayable: 1, skipped: [{ seq: sent.seq, reason: "replay_false" }] });
    expect((await server.json({ method: "GET", url: `/sessions/${id}/checkpoints` })).body[0].interpreter).toMatchObject({ cells: 2 });
    await run(id, "x = 99\nlater = 1");

    const restored = await server.json({ method: "POST", url: `/sessions/${id}/checkpoints/${cp.body.id}/restore`, body: {} });
    expect(restored.status).toBe(200);
    expect(restored.body.runtime_metadata.rebuild).toMatchObject({ reason: "restore", replayed: 1, skipped: [{ seq: sent.seq, reason: "replay_false" }] });
    expect((await run(id, "(x, 'later' in dir(), 'sent' in dir())")).stdout).toBe("(1, False, False)\n");
    const [restore] = (await server.json({ method: "GET", url: `/sessions/${id}/events?type=restore` })).body;
    expect(restore.data).toMatchObject({ checkpoint_id: cp.body.id, interpreter: { cells: 2, replayable: 1 }, restored: expect.arrayContaining(["interpreter"]) });
  });

  it("forks a live python session into its own interpreter at the checkpoint", async () => {
    server = await startServer({ enableSessions: true });
    const id = (await server.json({ method: "POST", url: "/sessions", body: { kind: "python", name: "origin" } })).body.id as string;
    await run(id, "n = 10");
    const cp = (await server.json({ method: "POST", url: `/sessions/${id}/checkpoints`, body: {} })).body;
    await run(id, "n = 20");
    const fork = await server.json({ method: "POST", url: `/sessions/${id}/checkpoints/${cp.id}/fork`, body: { name: "branch" } });
    expect(fork.status).toBe(201);
    expect(fork.body).toMatchObject({ parent: id, status: "active", runtime_metadata: { rebuild: { reason: "fork", replayed: 1 } } });
    expect((await run(fork.body.id, "n += 1\nn")).stdout).toBe("11\n");
    expect((await run(id, "n")).stdout).toBe("20\n");
    const live = (await server.json({ method: "GET", url: "/session/list" })).body as { id: string; pid: number }[];
    expect(new Set(live.map((s) => s.pid)).size).toBe(2);
  });

  it("forks a shell into the same folder of its own workspace, with its exported environment", async () => {
    server = await startServer({ enableSessions: true });
    const source = (await server.json({ method: "POST", url: "/sessions", body: { kind: "shell", name: "sh-origin" } })).body as { id: string; workspace: string };
    await run(source.id, "mkdir -p sub/deeper && cd sub/deeper && export KEEP=1");
    const cp = (await server.json({ method: "POST", url: `/sessions/${source.id}/checkpoints`, body: { with_files: true } })).body;
    const fork = (await server.json({ method: "POST", url: `/sessions/${source.id}/checkpoints/${cp.id}/fork`, body: { name: "sh-branch" } })).body as { id: string; workspace: string };
    expect(fork.workspace).not.toBe(source.workspace);
    expect((await run(fork.id, 'echo "$PWD $KEEP"')).stdout).toBe(`${fork.workspace}/sub/deeper 1\n`);
    // From outside its workspace (the session's own /tmp), a fork starts at the top of its own.
    await run(source.id, "cd /tmp");
    const cp2 = (await server.json({ method: "POST", url: `/sessions/${source.id}/checkpoints`, body: {} })).body;
    const fork2 = (await server.json({ method: "POST", url: `/sessions/${source.id}/checkpoints/${cp2.id}/fork`, body: { name: "sh-branch-2" } })).body as { id: string; workspace: string };
    expect((await run(fork2.id, "pwd")).stdout).toBe(`${fork2.workspace}\n`);
  });

  it("undoes the last cell over HTTP and answers 409 when there is nothing left", async () => {
    server = await startServer({ enableSessions: true });
    const id = (await server.json({ method: "POST", url: "/sessions", body: { kind: "typescript" } })).body.id as string;
    await run(id, "let n: number = 1;");
    const last = await run(id, "n = 2;");
    const undo = await server.json({ method: "POST", url: `/sessions/${id}/undo` });
    expect(undo.status).toBe(200);
    expect(undo.body).toMatchObject({ seq: last.seq, input: "n = 2;", files: "off", rebuild: { reason: "undo", replayed: 1 } });
    expect((await run(id, "n")).stdout).toBe("1\n");
    await server.json({ method: "POST", url: `/sessions/${id}/undo` });
    await server.json({ method: "POST", url: `/sessions/${id}/undo` });
    const empty = await server.json({ method: "POST", url: `/sessions/${id}/undo` });
    expect(empty.status).toBe(409);
    expect(empty.body.error).toMatchObject({ code: "conflict", message: expect.stringContaining("nothing to undo") });
  });

  it("hibernates a session for its owner: no process, shown hibernated, and the next exec's answer says it woke", async () => {
    server = await startServer({
      enableSessions: true,
      execRoles: ["admin", "agent"],
      tokens: [
        { token: AGENT, role: "agent", agent_id: "agent-a" },
        { token: OTHER, role: "agent", agent_id: "agent-b" },
        { token: READER, role: "reader" },
      ],
    });
    const started = await server.json({ method: "POST", url: "/sessions", body: { kind: "python" }, token: AGENT });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "kept = 'yes'" }, token: AGENT });
    const pid = started.body.runtime_metadata.pid as number;

    expect((await server.json({ method: "POST", url: `/sessions/${id}/hibernate`, token: OTHER })).status).toBe(404);
    expect((await server.json({ method: "POST", url: `/sessions/${id}/hibernate`, token: READER })).status).toBe(403);
    const asleep = await server.json({ method: "POST", url: `/sessions/${id}/hibernate`, token: AGENT });
    expect(asleep.status).toBe(200);
    expect(asleep.body.runtime_metadata.hibernated).toMatchObject({ reason: "request", cells: 1 });
    await eventually(() => !alive(pid), 5_000, "the interpreter to end");
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    const list = (await server.json({ method: "GET", url: "/session/list" })).body;
    expect(list).toEqual([expect.objectContaining({ id, pid: null, state: expect.objectContaining({ status: "hibernated" }) })]);

    const woke = await server.json({ method: "POST", url: `/sessions/${id}/exec`, body: { input: "kept" }, token: AGENT });
    expect(woke.body).toMatchObject({ stdout: "'yes'\n", woke: { replayed: 1, failed: [], skipped: [] } });
    const again = await server.json({ method: "POST", url: `/sessions/${id}/hibernate` });
    expect(again.status).toBe(200);
    expect((await server.json({ method: "POST", url: `/sessions/${id}/stop` })).body.status).toBe("completed");
    expect((await server.json({ method: "POST", url: `/sessions/${id}/hibernate` })).status).toBe(409);
  });
});

describe("a stream opened on a hibernated session", () => {
  const { server: listening } = perTest({ enableSessions: true });

  it("wakes it, and the wake comes down the stream as an event", async () => {
    const s = await listening();
    const id = (await s.json("POST", "/sessions", { kind: "python" })).body.id as string;
    await s.json("POST", `/sessions/${id}/exec`, { input: "woken = 'by a stream'" });
    expect((await s.json("POST", `/sessions/${id}/hibernate`)).status).toBe(200);
    const abort = new AbortController();
    const res = await fetch(`${s.url}/sessions/${id}/stream`, { headers: { authorization: `Bearer ${s.token}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    try {
      const until = Date.now() + 15_000;
      while (!/"event_type":"wake"/.test(text) && Date.now() < until) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } finally {
      abort.abort();
    }
    expect(text, text.slice(0, 3000)).toMatch(/"event_type":"wake"/);
    expect(s.app.sessiond.live.describe(id)?.pid).toEqual(expect.any(Number));
    expect((await s.json("POST", `/sessions/${id}/exec`, { input: "woken" })).body).toMatchObject({ stdout: "'by a stream'\n" });
    expect((await s.json("POST", `/sessions/${id}/exec`, { input: "woken" })).body.woke).toBeUndefined();
  });
});
