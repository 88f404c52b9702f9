import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server with live sessions off (ENABLE_SESSIONS unset), holding a crashed shell session as a previous server would leave it. */
async function withCrashedShell() {
  server = await startServer();
  const shell = await server.manager.create({ kind: "shell", name: "old-shell" });
  await server.manager.crash(shell.id, "sessiond restarted");
  const refusedStart = await server.json({ method: "POST", url: "/sessions/", body: { kind: "shell" } });
  expect(refusedStart.status).toBe(400);
  return { s: server, shell, refusedStart: refusedStart.body };
}

describe("recovering a live session while live sessions are off", () => {
  it("refuses recover, resume and a status update to active with the answer a start gets, and starts no process", async () => {
    const { s, shell, refusedStart } = await withCrashedShell();
    expect(refusedStart.error.message).toMatch(/shell is not enabled/);
    for (const [method, url, body] of [
      ["POST", `/sessions/${shell.id}/recover`, {}],
      ["POST", `/sessions/${shell.id}/resume`, {}],
      ["PATCH", `/sessions/${shell.id}`, { status: "active" }],
      ["PATCH", `/sessions/${shell.name}`, { status: "active", context: { x: 1 } }],
    ] as const) {
      const res = await s.json({ method, url, body });
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.body, `${method} ${url}`).toEqual(refusedStart);
    }
    // A python session's recover with replay (which would also run its cells) is refused alike.
    const python = await s.manager.create({ kind: "python" });
    await s.manager.crash(python.id);
    const pythonStart = (await s.json({ method: "POST", url: "/sessions/", body: { kind: "python" } })).body;
    expect((await s.json({ method: "POST", url: `/sessions/${python.id}/recover`, body: { replay: true } })).body).toEqual(pythonStart);
    const after = (await s.json({ method: "GET", url: `/sessions/${shell.id}` })).body;
    expect(after).toMatchObject({ status: "crashed", version: shell.version + 1, context: {} });
    expect(s.app.sessiond.live.list()).toEqual([]);
  });

  it("refuses the bulk recovery when it would recover a live session, before any session moves", async () => {
    const { s, refusedStart } = await withCrashedShell();
    const agent = await s.manager.create({ name: "agent-run" });
    await s.manager.crash(agent.id);
    const res = await s.json({ method: "POST", url: "/sessions/recover", body: {} });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(refusedStart);
    expect((await s.json({ method: "GET", url: `/sessions/${agent.id}` })).body.status).toBe("crashed");
    expect(s.app.sessiond.live.list()).toEqual([]);
    // Agent sessions alone still recover in bulk.
    await s.json({ method: "POST", url: "/sessions/old-shell/fail", body: { error: "given up" } });
    const recovered = await s.json({ method: "POST", url: "/sessions/recover", body: {} });
    expect(recovered.body.map((r: { session: { id: string } }) => r.session.id)).toEqual([agent.id]);
  });

  it("refuses the live sessions' own recover with the same error", async () => {
    const { s, shell, refusedStart } = await withCrashedShell();
    const err = await s.app.sessiond.live.recover(shell.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(JSON.parse(JSON.stringify(err))).toEqual(refusedStart);
    expect((await s.manager.get(shell.id)).status).toBe("crashed");
  });
});
