import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, call, clusterAvailable, startCluster } from "./harness.js";

const available = await clusterAvailable();

/** The harness itself: nodes that share one token and one schema, HAProxy spreading requests over them. */
describe.skipIf(!available)("a cluster of sessiond nodes behind HAProxy", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: Number(process.env.SESSIOND_TEST_CLUSTER_NODES ?? 3) });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("answers through the load balancer from every node in turn, each naming itself", async () => {
    const names = new Set<string | null>();
    for (let i = 0; i < cluster.nodes.length * 3; i++) names.add((await call(cluster.lb!.url, cluster.token, "GET", "/readyz")).node);
    expect([...names].sort()).toEqual(cluster.nodes.map((n) => n.name).sort());
    // Each node's record in its data dir says so too (what `sessiond server status` shows).
    for (const node of cluster.nodes) expect(JSON.parse(readFileSync(join(node.home, "server.pid"), "utf8"))).toMatchObject({ store: "postgres", node: node.name });
  });

  it("accepts the shared token on every node, and a session written through one is read through another", async () => {
    const created = await cluster.client().sessions.createSession({ agent_id: "harness" });
    for (const node of cluster.nodes) expect((await cluster.client(node).sessions.getSession(created.id)).agent_id).toBe("harness");
  });

  it("restarts a killed node on its home and port", async () => {
    const node = cluster.nodes.at(-1)!;
    const before = node.process.child.pid;
    await cluster.kill(node);
    expect(cluster.isRunning(node)).toBe(false);
    await cluster.restart(node);
    expect(node.process.child.pid).not.toBe(before);
    expect((await call(node.url, cluster.token, "GET", "/readyz")).status).toBe(200);
  });
});
