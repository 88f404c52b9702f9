/**
 * A body over bodyLimitBytes sent by `sessiond/client` to a server in another process — over the
 * Unix socket and over TCP — is answered 413 every time, never a failed write: the server reads a
 * declared body through before it moves on, so the client finishes sending and reads why it was
 * refused. (In one process the race cannot happen: client and server share the event loop.)
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/core/index.js";
import { type SessiondClient, createClient } from "../../src/sdk/client/index.js";
import { cliHome, startCli, until } from "../cli/run-cli.js";

const SLOW = { timeout: 120_000 };
const h = cliHome();
const { bodyLimitBytes } = resolveConfig({ env: { HOME: h.home }, flags: { home: h.home } });
let serve: ReturnType<typeof startCli>;
let clients: Record<"socket" | "tcp", SessiondClient>;

beforeAll(async () => {
  serve = startCli(["serve"], h.env);
  await until(() => {
    if (serve.child.exitCode !== null) throw new Error(`sessiond serve exited ${serve.child.exitCode}:\n${serve.output()}`);
    return serve.output().includes("sessiond listening");
  });
  const { port } = await h.json<{ port: number }>(["server", "status"]);
  clients = {
    socket: createClient({ socketPath: join(h.home, "sessiond.sock") }),
    tcp: createClient({ baseUrl: `http://127.0.0.1:${port}`, home: h.home }),
  };
}, SLOW.timeout);

afterAll(async () => {
  await Promise.all(Object.values(clients ?? {}).map((client) => client.close()));
  await serve?.stop();
  await h.cleanup();
});

describe.each(["socket", "tcp"] as const)("a body over the limit through sessiond/client to a server (%s)", (via) => {
  it("is refused with body_too_large each time, and the next request goes through", SLOW, async () => {
    const client = clients[via];
    const session = await client.sessions.createSession({ name: `big-${via}` });
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      const outcome = await client.sessions.appendEvent(session.id, "note", { x: "y".repeat(bodyLimitBytes * 2) }).then(
        () => "accepted",
        (err: { code?: string }) => err.code ?? String(err),
      );
      codes.push(outcome);
    }
    expect(codes).toEqual(Array(8).fill("body_too_large"));
    expect((await client.sessions.appendEvent(session.id, "note", { small: true })).seq).toBe(2);
  });
});
