import { connect, createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager } from "../../src/engine/index.js";
import { ChannelError, OwnerChannelClient } from "../../src/sdk/owner-rpc/client.js";
import { type OwnerChannel, serveOwnerChannel } from "../../src/sdk/owner-rpc/server.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

/** The owner's write channel on a real Unix socket, against a real engine on a SQLite file. */
describe("the owner's write channel", () => {
  let home: ReturnType<typeof tempHome>;
  let manager: SessionManager;
  let channel: OwnerChannel;
  let client: OwnerChannelClient;
  const MAX_LINE = 10_000;

  beforeEach(async () => {
    home = tempHome();
    manager = new SessionManager({ store: openSqliteStore(home.config), config: home.config });
    channel = await serveOwnerChannel(manager, join(home.home, "owner.sock"), MAX_LINE);
    client = new OwnerChannelClient(join(home.home, "owner.sock"), Number.POSITIVE_INFINITY);
  });
  afterEach(async () => {
    client.close();
    await channel.close();
    await manager.close();
    home.remove();
  });

  it("makes the engine call of each op and answers with what it returned", async () => {
    const created = (await client.call("create", { input: { task: "t", mode: "m" } }, 5000)) as { id: string; version: number };
    const event = (await client.call("appendEvent", { ref: created.id, type: "note", data: { a: 1 } }, 5000)) as { seq: number };
    expect(event.seq).toBe(2);
    await client.call("mergeContext", { ref: created.id, patch: { step: 1 } }, 5000);
    await client.call("pause", { ref: created.id }, 5000);
    const stored = manager.getSync(created.id);
    expect(stored).toMatchObject({ status: "paused", context: { step: 1 } });
    // An argument left out is undefined, not null: a pause without a reason records none.
    expect(manager.listEventsSync(created.id, { types: ["pause"] }).at(-1)?.data).not.toHaveProperty("reason", null);
  });

  it("gives back the engine's refusals as the errors they are, field and all", async () => {
    await expect(client.call("pause", { ref: "no-such-session" }, 5000)).rejects.toMatchObject({ code: "not_found", status: 404 });
    const s = (await client.call("create", { input: {} }, 5000)) as { id: string };
    await client.call("complete", { ref: s.id }, 5000);
    await expect(client.call("pause", { ref: s.id }, 5000)).rejects.toMatchObject({ code: "invalid_transition", status: 409 });
    await expect(client.call("appendEvent", { ref: s.id, type: "", data: {} }, 5000)).rejects.toMatchObject({ code: "validation", field: "type" });
  });

  it("closes a connection that sends a malformed, unknown or oversized request, and goes on serving others", async () => {
    for (const bad of ["not json\n", `${JSON.stringify({ id: 1, op: "deleteEverything", args: {} })}\n`, `${"x".repeat(MAX_LINE + 10)}`]) {
      const socket = connect(join(home.home, "owner.sock"));
      await new Promise((resolve) => socket.once("connect", resolve));
      const closed = new Promise((resolve) => socket.once("close", resolve));
      socket.on("error", () => undefined);
      socket.write(bad);
      await closed;
    }
    expect(await client.call("create", { input: {} }, 5000)).toHaveProperty("id");
  });

  it("tells a call that never left from one the owner went away with and one it never answered", async () => {
    const nowhere = new OwnerChannelClient(join(home.home, "nobody.sock"), Number.POSITIVE_INFINITY);
    await expect(nowhere.call("create", { input: {} }, 5000)).rejects.toSatisfy((err) => err instanceof ChannelError && err.failure.kind === "not_sent");
    // An owner that reads the call, then dies without answering; and one that never answers.
    const path = join(home.home, "silent.sock");
    let dieOnRead = true;
    const silent = createServer((socket) => socket.once("data", () => dieOnRead && socket.destroy()));
    await new Promise<void>((resolve) => silent.listen(path, resolve));
    try {
      const peer = new OwnerChannelClient(path, Number.POSITIVE_INFINITY);
      await expect(peer.call("create", { input: {} }, 5000)).rejects.toSatisfy((err) => err instanceof ChannelError && err.failure.kind === "lost");
      dieOnRead = false;
      await expect(peer.call("create", { input: {} }, 200)).rejects.toSatisfy((err) => err instanceof ChannelError && err.failure.kind === "timed_out");
      peer.close();
    } finally {
      silent.close();
    }
  });
});
