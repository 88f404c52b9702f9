/**
 * Seed 000's session shape through sessiond/client over a loopback port: the list's
 * `{id, mode, server, state}`, `mode` on the session, a mode's start options and their refusals
 * rebuilt as typed errors.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type SessiondClient, SessiondError } from "sessiond/client";
import { type TestServer, startServer } from "../server/harness.js";
import { connectClient } from "./support/connect.js";

describe("sessiond/client and seed 000's session modes", () => {
  let server: TestServer | undefined;
  let client: SessiondClient | undefined;

  afterEach(async () => {
    await client?.close();
    await server?.close();
    client = undefined;
    server = undefined;
  });

  async function connect(flags: Record<string, unknown> = {}): Promise<SessiondClient> {
    server = await startServer({ enableSessions: true, ...flags });
    client = await connectClient(server);
    return client;
  }

  it("starts a python session on the interpreter it names; the list and the session show its mode", async () => {
    const c = await connect();
    const { id } = await c.live.start("python", { interpreter: "/usr/bin/python3" });
    const [info] = await c.live.list();
    expect(info).toMatchObject({ id, mode: "python", server: "local", state: { status: "live", paused: false, queued: 0 } });
    expect((await c.live.exec(id, "import sys; print(sys.executable)")).stdout).toBe("/usr/bin/python3\n");
    expect(await c.sessions.getSession(id)).toMatchObject({ kind: "python", mode: "python" });
    await c.live.stop(id);
  });

  it("rebuilds the refusals as typed errors naming the field: another mode's option, an llm session without a key, ssm", async () => {
    const c = await connect();
    const other = await c.live.start("shell", { interpreter: "/usr/bin/python3" }).catch((err: unknown) => err);
    expect(other).toBeInstanceOf(SessiondError);
    expect(other).toMatchObject({ code: "validation", field: "interpreter", status: 400 });
    await expect(c.sessions.createSession({ kind: "llm", model: "gpt-4o-mini" })).rejects.toMatchObject({ code: "validation", field: "api_key" });
    await expect(c.live.start("shell", { server: "ssm" })).rejects.toMatchObject({ code: "target_unavailable", field: "server", status: 501 });
    expect(await c.live.list()).toEqual([]);
  });
});
