import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type Server, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestServer, startServer } from "./harness.js";

/**
 * `server: "ssh"` sessions are the operator's: the server connects from its own network with key
 * files it can read, so an agent token may not start one (docs/security.md); and no ssh peer,
 * however it misbehaves, can end the server.
 */

const AGENT = "agent-token-ssh-0123456789-abcdefgh";
let keyDir: string;
let privateKey: string;
let server: TestServer;
let silent: Server;
let silentPort: number;
const held: Socket[] = [];

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), "sessiond-sshtarget-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "id")]);
  privateKey = readFileSync(join(keyDir, "id"), "utf8");
  // A peer that accepts the connection and never says a word: the ssh handshake times out.
  silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentPort = (silent.address() as { port: number }).port;
  server = await startServer({
    enableSessions: true,
    execRoles: ["admin", "agent"],
    startTimeoutMs: 800,
    tokens: [{ token: AGENT, role: "agent", agent_id: "mallory" }],
  });
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  silent.close();
  await server.close();
  rmSync(keyDir, { recursive: true, force: true });
});

const sshStart = (port: number) => ({
  kind: "shell",
  server: "ssh",
  server_options: { host: "127.0.0.1", port, user: "nobody", private_key: privateKey, host_key_sha256: `SHA256:${"A".repeat(43)}` },
});

describe("ssh targets", () => {
  it("are refused to an agent token with 403 naming server, before anything connects, on both start routes", async () => {
    const before = held.length;
    const res = await server.json({ method: "POST", url: "/sessions", body: sshStart(silentPort), token: AGENT });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: "forbidden", field: "server" });
    const seed = await server.json({ method: "POST", url: "/session/start", body: { ...sshStart(silentPort), kind: undefined, mode: "shell" }, token: AGENT });
    expect(seed.status).toBe(403);
    expect(held.length).toBe(before);
    expect((await server.json({ method: "GET", url: "/sessions", token: AGENT })).body).toEqual([]);
  });

  it("that never answer the handshake fail the start, and the server lives on past the ssh client's late errors", async () => {
    const res = await server.json({ method: "POST", url: "/sessions", body: sshStart(silentPort) });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(res.body.error.code).toBe("spawn_failed");
    // ssh2 reports the lost connection again after its ready timeout: that event must find a listener.
    for (const socket of held) socket.destroy();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await server.request({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
  });
});
