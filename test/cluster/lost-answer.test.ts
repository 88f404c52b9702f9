import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, type ClusterNode, call, clusterAvailable, startCluster } from "./harness.js";
import { WRITE_TYPE, WriteLedger } from "./ledger.js";
import { NodeProxy } from "./node-proxy.js";

const available = await clusterAvailable();

describe.skipIf(!available)("a forwarded write whose answer is lost on the way back", () => {
  let cluster: Cluster;
  let proxy: NodeProxy;
  let owner: ClusterNode;
  let other: ClusterNode;
  beforeAll(async () => {
    proxy = await NodeProxy.start();
    // n2 is reached by the other nodes through the proxy.
    cluster = await startCluster({
      nodes: 2,
      loadBalancer: false,
      nodeEnv: (name, port): Record<string, string> => {
        if (name !== "n2") return {};
        proxy.targetPort = port;
        return { SESSIOND_ADVERTISE_URL: proxy.url };
      },
    });
    owner = cluster.node("n2");
    other = cluster.node("n1");
  });
  afterAll(async () => {
    await cluster?.close();
    await proxy?.close();
  });

  /** A session n2 owns, with one event. */
  const ownedByN2 = async (ledger: WriteLedger): Promise<string> => {
    const client = cluster.client(owner);
    const session = (await client.sessions.createSession({ agent_id: "lost-answer" })).id;
    expect(await ledger.append(client, session, `${session}-first`)).toMatchObject({ acked: true });
    expect((await cluster.owners()).get(session)).toBe(owner.name);
    await client.close();
    return session;
  };

  it("is applied once by the owner and not sent again by the forwarding node, which answers 502 forward_failed (it may have been applied)", async () => {
    const ledger = new WriteLedger();
    const session = await ownedByN2(ledger);
    proxy.swallowNextAnswer();
    const id = ledger.begin(session, "plain-once");
    const answer = await call(other.url, cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } });
    ledger.settle(id, answer.status === 201 ? { acked: true, seq: answer.body.seq } : { acked: false, error: `${answer.status} ${answer.body?.error?.code}` });
    expect(proxy.swallowed).toBe(1);
    // Not node_unreachable, which says nothing happened (clients send those again): this one may have been applied.
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe("forward_failed");
    expect(await ledger.check(cluster.client(other), [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
  });

  it("is stored once when the SDK gets that answer: it does not send a write again that may have been applied", async () => {
    const ledger = new WriteLedger();
    const session = await ownedByN2(ledger);
    proxy.swallowNextAnswer();
    const client = cluster.client(other);
    await ledger.append(client, session, "sdk-once");
    expect(proxy.swallowed).toBeGreaterThanOrEqual(1);
    expect(await ledger.check(client, [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    await client.close();
  });
});
