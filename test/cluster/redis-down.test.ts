import { Redis } from "ioredis";
import type { FeedEvent } from "sessiond/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, type ClusterNode, call, clusterAvailable, startCluster, until } from "./harness.js";
import { WRITE_TYPE } from "./ledger.js";
import { type PrivateRedis, redisServerMissing, startPrivateRedis } from "./private-redis.js";

const available = (await clusterAvailable()) && redisServerMissing() === undefined;

/** Seed 003's channel, the nodes' default. */
const CHANNEL = "events:session";
/** Writes made while Redis is down, through the owner and through the load balancer each. */
const WRITES_WHILE_DOWN = 5;

describe.skipIf(!available)("Redis going away under a cluster (a private redis-server, stopped and started again)", () => {
  let redis: PrivateRedis;
  let cluster: Cluster;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    cluster = await startCluster({ nodes: 3, redisUrl: redis.url });
  });
  afterAll(async () => {
    await cluster?.close();
    await redis?.close();
  });

  it("keeps writes, reads and a feed on another node working while Redis is down, and publishes to Redis again once it is back", async () => {
    const lb = cluster.client();
    const session = (await lb.sessions.createSession({ agent_id: "redis-down" })).id;
    await lb.sessions.appendEvent(session, WRITE_TYPE, { id: "first" });
    const ownerName = (await cluster.owners()).get(session);
    expect(ownerName, "the session has no owner after a write").toBeDefined();
    const owner = cluster.node(ownerName!);
    const watcher = cluster.nodes.find((n) => n !== owner)!;

    // A Redis subscriber, which reconnects and subscribes again by itself.
    const subscriber = new Redis(redis.url, { retryStrategy: () => 100, maxRetriesPerRequest: null });
    const published: number[] = [];
    subscriber.on("error", () => {});
    subscriber.on("message", (_channel: string, text: string) => {
      const message = JSON.parse(text) as { event_type: string; aggregate_id: string; payload: { seq?: number } };
      if (message.aggregate_id === session && message.event_type === "session.event_appended") published.push(message.payload.seq!);
    });
    await subscriber.subscribe(CHANNEL);

    // A feed of the session on a node that does not own it: it hears of the owner's commits across nodes.
    const stop = new AbortController();
    const seen: FeedEvent[] = [];
    let ready = false;
    const reading = (async () => {
      for await (const message of cluster.client(watcher).streams.feed({ sessions: [session], signal: stop.signal })) {
        if (message.type === "ready") ready = true;
        if (message.type === "event") seen.push(message);
      }
    })();
    await until(() => ready);
    const seenIds = () => seen.map((e) => e.data.id);

    const write = async (node: ClusterNode | "lb", id: string): Promise<number> => {
      const answer = await call(node === "lb" ? cluster.lb!.url : node.url, cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } });
      expect(answer.status, `${id}: ${JSON.stringify(answer.body)}`).toBe(201);
      return answer.body.seq as number;
    };

    const upSeq = await write(owner, "up");
    await until(() => seenIds().includes("up") && published.includes(upSeq));

    await redis.stop();
    const downIds: string[] = [];
    for (let i = 0; i < WRITES_WHILE_DOWN; i++) {
      await write(owner, `down-owner-${i}`);
      await write("lb", `down-lb-${i}`);
      downIds.push(`down-owner-${i}`, `down-lb-${i}`);
    }
    const read = await call(cluster.lb!.url, cluster.token, "GET", `/sessions/${session}`);
    expect(read.status).toBe(200);
    expect(read.body.last_seq).toBeGreaterThanOrEqual(upSeq + downIds.length);
    const events = await lb.sessions.listEvents(session, { types: [WRITE_TYPE], limit: 100 });
    expect(events.items.map((e) => e.data.id)).toEqual(expect.arrayContaining(downIds));
    for (const node of cluster.nodes) expect((await call(node.url, cluster.token, "GET", "/readyz")).status).toBe(200);
    await until(() => downIds.every((id) => seenIds().includes(id)));

    await redis.start();
    // Messages come again once the publisher and the subscriber have both reconnected: write until one arrives.
    let n = 0;
    const backSeq = await until(async () => {
      const seq = await write(owner, `back-${n++}`);
      const deadline = Date.now() + 500;
      while (Date.now() < deadline && !published.includes(seq)) await new Promise((r) => setTimeout(r, 20));
      return published.includes(seq) ? seq : undefined;
    });
    expect(backSeq).toBeGreaterThan(upSeq);
    await until(() => seenIds().includes(`back-${n - 1}`));

    // The feed had each event once, in order.
    const seqs = seen.map((e) => e.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    const stored = (await lb.sessions.listEvents(session, { after_seq: upSeq - 1, limit: 1000 })).items.map((e) => e.seq);
    expect(seqs.filter((s) => s >= upSeq)).toEqual(stored);

    stop.abort();
    await reading;
    subscriber.disconnect();
    await lb.close();
  });
});
