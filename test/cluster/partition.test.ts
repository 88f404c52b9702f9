import { describe, expect, it } from "vitest";
import { type Answer, type ClusterNode, call, clusterAvailable } from "./harness.js";
import { WRITE_TYPE, WriteLedger, errorKind } from "./ledger.js";
import { proxiedPairPerSuite } from "./node-proxy.js";

const available = await clusterAvailable();

/** Writes sent to the owner directly while the other node cannot reach it. */
const WRITES_AT_OWNER = 5;

describe.skipIf(!available)("a partition: one node cannot reach the owner, which still holds its lease", () => {
  const pair = proxiedPairPerSuite();

  it("refuses the cut-off node's writes with node_unreachable (nothing applied), never takes the session from its live owner, and forwards again once healed", async () => {
    const ledger = new WriteLedger();
    const atOwner = pair.cluster.client(pair.owner);
    const session = (await atOwner.sessions.createSession({ agent_id: "partition" })).id;
    expect(await ledger.append(atOwner, session, "before")).toMatchObject({ acked: true });
    expect((await pair.cluster.owners()).get(session)).toBe(pair.owner.name);

    const write = async (node: ClusterNode, id: string): Promise<Answer> => {
      ledger.begin(session, id);
      const answer = await call(node.url, pair.cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } }).catch(
        (err: unknown): Answer => ({ status: 0, node: null, headers: new Headers(), body: { error: { code: errorKind(err) } } }),
      );
      ledger.settle(id, answer.status === 201 ? { acked: true, seq: answer.body.seq } : { acked: false, error: `${answer.status} ${answer.body?.error?.code}` });
      return answer;
    };

    await pair.proxy.block();
    // The cut-off node waits for the owner's lease, which keeps being renewed, then gives up.
    const refused = await write(pair.other, "cut-off");
    expect(`${refused.status} ${refused.body?.error?.code}`).toBe("503 node_unreachable");
    expect(refused.headers.get("retry-after")).not.toBeNull();
    for (let i = 0; i < WRITES_AT_OWNER; i++) expect((await write(pair.owner, `at-owner-${i}`)).status).toBe(201);
    expect((await pair.cluster.owners()).get(session)).toBe(pair.owner.name);

    await pair.proxy.unblock();
    const healed = await write(pair.other, "healed");
    expect(healed.status, JSON.stringify(healed.body)).toBe(201);
    expect(healed.node).toBe(pair.owner.name);

    expect(await ledger.check(atOwner, [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    // node_unreachable says nothing was applied: the refused write is not there.
    const ids = (await atOwner.sessions.listEvents(session, { types: [WRITE_TYPE], limit: 100 })).items.map((e) => e.data.id);
    expect(ids).not.toContain("cut-off");
    await atOwner.close();
  });
});
