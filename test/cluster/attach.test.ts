import { randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WsClient } from "../streams/harness.js";
import { type Answer, type Cluster, TAKEOVER_BOUND_MS, call, clusterAvailable, startCluster } from "./harness.js";

const available = await clusterAvailable();

const screen = (c: WsClient) => Buffer.concat(c.binary).toString("utf8");
const hello = (c: WsClient) => c.messages.find((m) => m.type === "hello");

describe.skipIf(!available)("attach to a shell that lives on another node", () => {
  let cluster: Cluster;
  const sockets: WsClient[] = [];
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, enableSessions: true });
  });
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await cluster?.close();
  });

  /** A WebSocket attach, and the node its upgrade's answer (101) names. */
  const attach = (baseUrl: string, id: string): { socket: WsClient; answeredBy: Promise<unknown> } => {
    const socket = new WsClient(`${baseUrl}/sessions/${id}/attach`, cluster.token);
    sockets.push(socket);
    const answeredBy = new Promise((resolve) => socket.socket.once("upgrade", (res) => resolve(res.headers["x-sessiond-node"])));
    return { socket, answeredBy };
  };

  /** Types a command whose output differs from its echo (the shell computes the number) and waits for the output. */
  const typeAndRead = async (socket: WsClient) => {
    await socket.opened;
    await socket.until((c) => hello(c)?.role === "driver");
    const n = randomInt(1_000_000);
    socket.socket.send(Buffer.from(`echo hi-$((${n}+1))\r`));
    await socket.until((c) => screen(c).includes(`hi-${n + 1}`));
  };

  it("warns at start that live sessions on the host's network can reach this host's password-less PostgreSQL", () => {
    // The suite's own setup is that one: sandboxNetwork on (the default), the database on loopback, trust auth.
    expect(cluster.logs()).toContain("live sessions share this host's network (sandboxNetwork) and PostgreSQL listens on 127.0.0.1:5432 here");
  });

  it("types and reads through a node that does not hold the shell, and through the load balancer", async () => {
    const created = await call(cluster.nodes[0]!.url, cluster.token, "POST", "/sessions", { kind: "shell" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const home = (await cluster.owners()).get(id);
    expect(home, "the shell has no owner").toBeDefined();

    for (const node of cluster.nodes.filter((n) => n.name !== home)) {
      const { socket, answeredBy } = attach(node.url, id);
      await typeAndRead(socket);
      // The terminal is the owner's: its node answered the upgrade, through the one asked.
      expect(await answeredBy).toBe(home);
      await socket.close();
    }
    // Round robin spreads these over every node, the shell's own included.
    for (let i = 0; i < cluster.nodes.length; i++) {
      const { socket, answeredBy } = attach(cluster.lb!.url, id);
      await typeAndRead(socket);
      expect(await answeredBy).toBe(home);
      await socket.close();
    }
    // The shell never moved: the node that started it still holds it.
    expect((await cluster.owners()).get(id)).toBe(home);
  });

  /**
   * Kills the node holding a new shell with SIGKILL, then checks that another node marks the
   * shell crashed naming that node, and that recover brings it back there to attach to.
   * `askMeanwhile`: a client keeps reading the session meanwhile, through a surviving node (which
   * then takes the session over when the lease runs out, before any sweep for orphans).
   */
  const crashAndRecover = async (askMeanwhile: boolean) => {
    const created = await call(cluster.nodes[0]!.url, cluster.token, "POST", "/sessions", { kind: "shell" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const dead = cluster.node((await cluster.owners()).get(id)!);
    const survivor = cluster.nodes.find((n) => n !== dead)!;

    await cluster.kill(dead, "SIGKILL");
    const killedAt = Date.now();
    // Nobody asks a node meanwhile: the database alone says when a sweep has marked the shell.
    if (!askMeanwhile) while ((await cluster.storedStatus(id)) !== "crashed" && Date.now() - killedAt < TAKEOVER_BOUND_MS) await sleep(200);
    let seen: Answer;
    do {
      seen = await call(survivor.url, cluster.token, "GET", `/sessions/${id}`);
      if (seen.body?.status === "crashed" || Date.now() - killedAt > TAKEOVER_BOUND_MS) break;
      await sleep(200);
    } while (true);
    const owner = (await cluster.owners()).get(id);
    expect(seen.body?.status, `${TAKEOVER_BOUND_MS} ms after ${dead.name} was killed its shell is ${seen.body?.status}, owned by ${owner}`).toBe("crashed");
    const client = cluster.client(survivor);
    const crashes = await client.sessions.listEvents(id, { types: ["crash"] });
    expect(crashes.items.at(-1)?.data.reason).toContain(`node ${dead.name} `);
    await client.close();

    const recovered = await call(survivor.url, cluster.token, "POST", `/sessions/${id}/recover`);
    expect(recovered.status, JSON.stringify(recovered.body)).toBe(200);
    const newHome = (await cluster.owners()).get(id);
    expect(newHome).not.toBe(dead.name);
    const { socket, answeredBy } = attach(survivor.url, id);
    await typeAndRead(socket);
    expect(await answeredBy).toBe(newHome);
    await socket.close();
  };

  describe("the shell of a node killed with SIGKILL is marked crashed, naming that node, and recover brings it back on another node to attach to", () => {
    afterEach(async () => {
      for (const node of cluster.nodes) if (!cluster.isRunning(node)) await cluster.restart(node);
    });

    it("when nobody asks about it meanwhile", () => crashAndRecover(false));

    it("when a client keeps reading it through another node meanwhile (that node takes it over)", () => crashAndRecover(true));
  });
});
