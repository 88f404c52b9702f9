/**
 * The codes attach answers before the upgrade, as docs/streams.md ("Attach") lists them: a
 * session with no process to attach to — an agent session, a stopped shell — is
 * `session_not_active`, over a real WebSocket handshake and a plain request alike.
 */
import { describe, expect, it, vi } from "vitest";
import { type LiveServer, WsClient, perTest } from "./harness.js";

vi.setConfig({ testTimeout: 60_000 });

const { cleanups, server } = perTest({ enableSessions: true });

function attach(s: LiveServer, id: string): WsClient {
  const c = new WsClient(`${s.url}/sessions/${id}/attach`, s.token);
  cleanups.push(() => c.close());
  return c;
}

async function refusal(s: LiveServer, id: string): Promise<{ status: number | undefined; error: any }> {
  const c = attach(s, id);
  await expect(c.opened).rejects.toThrow();
  return { status: c.unexpectedStatus, error: c.unexpectedBody.error };
}

describe("attach refusals", () => {
  it("answers attach on an agent session with 409 session_not_active naming kind, over a WebSocket handshake and a plain request", async () => {
    const s = await server();
    const { body: agent } = await s.json("POST", "/sessions", { name: "notes" });
    expect(agent.kind).toBe("agent");
    const { status, error } = await refusal(s, agent.id);
    expect(status).toBe(409);
    expect(error).toMatchObject({ code: "session_not_active", field: "kind" });
    expect(error.message).toBe("cannot attach: session notes is an agent record; no process runs it; attach to a live shell session");

    const upgrade = await s.app.inject({
      method: "GET",
      url: `/sessions/${agent.id}/attach`,
      headers: { authorization: `Bearer ${s.token}`, connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
    });
    expect(upgrade.statusCode).toBe(409);
    expect(upgrade.json().error.code).toBe("session_not_active");
    const plain = await s.json("GET", `/sessions/${agent.id}/attach`);
    expect(plain.status).toBe(409);
    expect(plain.body.error.code).toBe("session_not_active");
  });

  it("answers attach on a stopped shell with 409 session_not_active, and one on a running shell opens", async () => {
    const s = await server();
    const { status, body: shell } = await s.json("POST", "/sessions", { kind: "shell", name: "sh" });
    expect(status).toBe(201);
    const live = attach(s, shell.id);
    await live.opened;
    await live.close();
    expect((await s.json("POST", `/sessions/${shell.id}/stop`)).status).toBe(200);
    const refused = await refusal(s, shell.id);
    expect(refused.status).toBe(409);
    expect(refused.error.code).toBe("session_not_active");
    expect(refused.error.message).toMatch(/^cannot attach: session sh is completed;/);
  });
});
