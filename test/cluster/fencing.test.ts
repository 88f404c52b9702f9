import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Answer, type Cluster, type ClusterNode, LEASE_TTL_MS, call, clusterAvailable, startCluster, until } from "./harness.js";
import { WRITE_TYPE, WriteLedger, errorKind } from "./ledger.js";

const available = await clusterAvailable();

/** Writers aimed straight at the owner, so that writes are in flight when it stops. */
const DIRECT_WRITERS = 3;
/** Writes sent to the owner while it is stopped: they wait in its socket until it runs again. */
const WRITES_WHILE_STOPPED = 10;
/** Writes through the node that took the session over. */
const WRITES_AFTER_TAKEOVER = 10;
/**
 * What an old owner may answer a write it can no longer make (docs/errors.md): refused unapplied
 * (its epoch is no longer current; or PostgreSQL ended the transaction it held open while it was
 * stopped; or a write it had begun to serve before it stopped finds, on waking, that another node
 * holds the session: owned_elsewhere), or forwarded to the new owner and lost on the way (it may have
 * been applied there, once).
 */
const REFUSALS = ["503 session_moved", "503 commit_rolled_back", "503 owned_elsewhere", "503 node_unreachable", "502 forward_failed"];

describe.skipIf(!available)("fencing: an owner stopped (SIGSTOP) past its lease while writes are in flight", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("lets another node take the session over, and the old owner's writes fail or are forwarded: nothing lost or doubled", async () => {
    const lb = cluster.client();
    const session = (await lb.sessions.createSession({ agent_id: "fencing", name: "hot" })).id;
    const ledger = new WriteLedger();
    expect(await ledger.append(lb, session, "warm-up")).toMatchObject({ acked: true });

    const ownerName = (await cluster.owners()).get(session);
    expect(ownerName, "the session has no owner after a write").toBeDefined();
    const owner = cluster.node(ownerName!);
    const other = cluster.nodes.find((n) => n !== owner)!;

    /** One write sent straight to `node` (no load balancer, no retry), its answer recorded. */
    const direct = async (node: ClusterNode, id: string): Promise<Answer> => {
      ledger.begin(session, id);
      const answer = await call(node.url, cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } }).catch(
        (err: unknown): Answer => ({ status: 0, node: null, headers: new Headers(), body: { error: { code: errorKind(err) } } }),
      );
      ledger.settle(id, answer.status === 201 ? { acked: true, seq: answer.body.seq } : { acked: false, error: outcomeOf(answer) });
      return answer;
    };

    /** The owner's answers, by write id. */
    const atOwner = new Map<string, string>();
    const toOwner = async (id: string) => atOwner.set(id, outcomeOf(await direct(owner, id)));
    let firing = true;
    const writers = Array.from({ length: DIRECT_WRITERS }, async (_, w) => {
      for (let n = 0; firing; n++) await toOwner(`owner-${w}-${n}`);
    });
    await until(() => ledger.acked >= 20);

    cluster.stop(owner);
    const stopped = Array.from({ length: WRITES_WHILE_STOPPED }, (_, i) => toOwner(`stopped-${i}`));
    await sleep(LEASE_TTL_MS + 1000);

    // Another node takes the session over: its lease on the stopped owner has run out.
    let attempt = 0;
    await until(async () => (await direct(other, `takeover-${attempt++}`)).status === 201, 100);
    expect((await cluster.owners()).get(session)).not.toBe(owner.name);
    for (let i = 0; i < WRITES_AFTER_TAKEOVER; i++) expect(outcomeOf(await direct(other, `after-${i}`))).toBe("201");

    cluster.cont(owner);
    firing = false;
    await writers;
    await Promise.all(stopped);

    const outcomes = [...atOwner.values()];
    console.info(`fencing: answers of the stopped owner ${owner.name}: ${JSON.stringify(count(outcomes))}`);
    // The old owner lives on: losing its sessions is no reason to end (its last words, if not).
    const alive = await call(owner.url, cluster.token, "GET", "/healthz").then(
      (a) => a.status === 200,
      () => false,
    );
    if (!alive) await Promise.race([owner.process.exited, sleep(2000)]);
    expect(alive, `${owner.name} ended after it was continued:\n${owner.logs.slice(-80).join("\n")}`).toBe(true);
    expect(await ledger.check(lb, [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    // A refusal that says "not applied" is true: none of those writes is stored.
    const stored = new Set((await lb.sessions.listEvents(session, { types: [WRITE_TYPE], limit: 1000 })).items.map((e) => String(e.data.id)));
    const refusedButStored = [...atOwner].filter(([id, outcome]) => outcome.startsWith("503 ") && stored.has(id));
    expect(refusedButStored, "writes answered 503 that are stored").toEqual([]);
    // docs/scale-out.md: a stalled node's pending writes are refused, not applied, with a code that says so.
    expect(
      outcomes.filter((o) => o !== "201" && !REFUSALS.includes(o)),
      `the stalled owner's answers besides 201 and ${REFUSALS.join(", ")}`,
    ).toEqual([]);

    // The old owner serves again, forwarding to the new one.
    let again = 0;
    await until(async () => (await direct(owner, `again-${again++}`)).status === 201, 100);
    expect(await ledger.check(lb, [session])).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    await lb.close();
  });
});

/** `201`, or the status and error code of a refusal (`503 session_moved`), or a transport error. */
function outcomeOf(answer: Answer): string {
  return answer.status === 201 ? "201" : `${answer.status} ${answer.body?.error?.code ?? ""}`.trim();
}

function count(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
