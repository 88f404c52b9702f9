import { describe, expect, it } from "vitest";
import { call, clusterAvailable } from "./harness.js";
import { WRITE_TYPE, WriteLedger } from "./ledger.js";
import { proxiedPairPerSuite } from "./node-proxy.js";

const available = await clusterAvailable();

describe.skipIf(!available)("a forwarded write whose answer is lost on the way back", () => {
  const pair = proxiedPairPerSuite();

  /** A session n2 owns, with one event. */
  const ownedByN2 = async (ledger: WriteLedger): Promise<string> => {
    const client = pair.cluster.client(pair.owner);
    const session = (await client.sessions.createSession({ agent_id: "lost-answer" })).id;
    expect(await ledger.append(client, session, `${session}-first`)).toMatchObject({ acked: true });
    expect((await pair.cluster.owners()).get(session)).toBe(pair.owner.name);
    await client.close();
    return session;
  };

  it("is applied once by the owner and not sent again by the forwarding node, which answers 502 forward_failed (it may have been applied)", async () => {
    const ledger = new WriteLedger();
    const session = await ownedByN2(ledger);
    pair.proxy.swallowNextAnswer();
    const id = ledger.begin(session, "plain-once");
    const answer = await call(pair.other.url, pair.cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } });
    ledger.settle(id, answer.status === 201 ? { acked: true, seq: answer.body.seq } : { acked: false, error: `${answer.status} ${answer.body?.error?.code}` });
    expect(pair.proxy.swallowed).toBe(1);
    // Not node_unreachable, which says nothing happened (clients send those again): this one may have been applied.
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe("forward_failed");
    expect(await ledger.check(pair.cluster.client(pair.other), [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
  });

  it("is stored once when the SDK gets that answer: it does not send a write again that may have been applied", async () => {
    const ledger = new WriteLedger();
    const session = await ownedByN2(ledger);
    pair.proxy.swallowNextAnswer();
    const client = pair.cluster.client(pair.other);
    await ledger.append(client, session, "sdk-once");
    expect(pair.proxy.swallowed).toBeGreaterThanOrEqual(1);
    expect(await ledger.check(client, [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    await client.close();
  });
});
