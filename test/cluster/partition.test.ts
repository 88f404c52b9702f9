import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Answer, type Cluster, type ClusterNode, call, clusterAvailable, startCluster } from "./harness.js";
import { WRITE_TYPE, WriteLedger, errorKind } from "./ledger.js";
import { NodeProxy } from "./node-proxy.js";

const available = await clusterAvailable();

/** Writes sent to the owner directly while the other node cannot reach it. */
const WRITES_AT_OWNER = 5;

describe.skipIf(!available)("a partition: one node cannot reach the owner, which still holds its lease", () => {
  let cluster: Cluster;
  let proxy: NodeProxy;
  let owner: ClusterNode;
  let other: ClusterNode;
  beforeAll(async () => {
    proxy = await NodeProxy.start();
    // n2 is reached by the other nodes through the proxy, which the test can cut.
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

  it("refuses the cut-off node's writes with node_unreachable (nothing applied), never takes the session from its live owner, and forwards again once healed", async () => {
    const ledger = new WriteLedger();
    const atOwner = cluster.client(owner);
    const session = (await atOwner.sessions.createSession({ agent_id: "partition" })).id;
    expect(await ledger.append(atOwner, session, "before")).toMatchObject({ acked: true });
    expect((await cluster.owners()).get(session)).toBe(owner.name);

    const write = async (node: ClusterNode, id: string): Promise<Answer> => {
      ledger.begin(session, id);
      const answer = await call(node.url, cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } }).catch(
        (err: unknown): Answer => ({ status: 0, node: null, headers: new Headers(), body: { error: { code: errorKind(err) } } }),
      );
      ledger.settle(id, answer.status === 201 ? { acked: true, seq: answer.body.seq } : { acked: false, error: `${answer.status} ${answer.body?.error?.code}` });
      return answer;
    };

    await proxy.block();
    // The cut-off node waits for the owner's lease, which keeps being renewed, then gives up.
    const refused = await write(other, "cut-off");
    expect(`${refused.status} ${refused.body?.error?.code}`).toBe("503 node_unreachable");
    expect(refused.headers.get("retry-after")).not.toBeNull();
    for (let i = 0; i < WRITES_AT_OWNER; i++) expect((await write(owner, `at-owner-${i}`)).status).toBe(201);
    expect((await cluster.owners()).get(session)).toBe(owner.name);

    await proxy.unblock();
    const healed = await write(other, "healed");
    expect(healed.status, JSON.stringify(healed.body)).toBe(201);
    expect(healed.node).toBe(owner.name);

    expect(await ledger.check(atOwner, [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    // node_unreachable says nothing was applied: the refused write is not there.
    const ids = (await atOwner.sessions.listEvents(session, { types: [WRITE_TYPE], limit: 100 })).items.map((e) => e.data.id);
    expect(ids).not.toContain("cut-off");
    await atOwner.close();
  });
});
