import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, type ClusterNode, TAKEOVER_BOUND_MS, call, clusterAvailable, startCluster } from "./harness.js";
import { WRITE_TYPE, WriteLedger, errorKind } from "./ledger.js";

const available = await clusterAvailable();

const SESSIONS = 20;
const WRITERS = 4;
const ROUNDS = 10;
/** How long the writers write between two kills, at least (the node killed last comes back meanwhile). */
const WRITE_SPELL_MS = 1000;
/** A writer's pause between two writes, so that four of them leave the nodes some CPU on a small machine. */
const WRITER_PAUSE_MS = 5;

interface Takeover {
  readonly round: number;
  readonly session: string;
  /** From the kill to the first write the session took again. */
  readonly ms: number;
  /** The `x-sessiond-node` of that answer. */
  readonly by: string | null;
  readonly victim: string;
}

describe.skipIf(!available)("failover: nodes killed with SIGKILL while writers write through the load balancer", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3 });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("keeps every acknowledged event exactly once with gap-free seqs, and the dead node's sessions are served elsewhere within the lease", async () => {
    const lb = cluster.client();
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++) sessions.push((await lb.sessions.createSession({ agent_id: "failover", name: `failover-${i}` })).id);
    const ledger = new WriteLedger();

    let writing = true;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const client = cluster.client();
      for (let n = 0; writing; n++) {
        await ledger.append(client, sessions[(w * 5 + n) % SESSIONS]!, `w${w}-${n}`);
        await sleep(WRITER_PAUSE_MS);
      }
      await client.close();
    });

    const takeovers: Takeover[] = [];
    /** The restart of the node killed last: it comes back under the writers' load, and is ready before the next kill. */
    let restarting: Promise<void> = Promise.resolve();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all([sleep(WRITE_SPELL_MS), restarting]);
        const { victim, owned } = await busiestNode(cluster, sessions);
        expect(owned.length, `round ${round}: no node owns any of the sessions`).toBeGreaterThan(0);
        const killedAt = Date.now();
        await cluster.kill(victim, "SIGKILL");
        await Promise.all(
          owned.map(async (session) => {
            // Probes write too, each with an id of its own: the first that is acknowledged shows the session served again.
            for (let probe = 0; ; probe++) {
              const id = ledger.begin(session, `probe-${round}-${session}-${probe}`);
              const answer = await call(cluster.lb!.url, cluster.token, "POST", `/sessions/${session}/events`, { type: WRITE_TYPE, data: { id } }).catch((err: unknown) => ({
                status: 0,
                node: null,
                body: { error: { code: errorKind(err) } },
              }));
              if (answer.status === 201) {
                ledger.settle(id, { acked: true, seq: answer.body.seq });
                takeovers.push({ round, session, ms: Date.now() - killedAt, by: answer.node, victim: victim.name });
                return;
              }
              ledger.settle(id, { acked: false, error: `${answer.status} ${answer.body?.error?.code ?? ""}` });
              await sleep(50);
            }
          }),
        );
        restarting = cluster.restart(victim);
        // Awaited at the next round's start (or below); until then its failure is not unhandled.
        restarting.catch(() => {});
      }
      await restarting;
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    const problems = await ledger.check(lb, sessions);
    console.info(
      `failover: ${ledger.acked} writes acknowledged; failed writes by error: ${JSON.stringify(ledger.failures())}; ` +
        `takeovers (ms after the kill): ${takeovers.map((t) => t.ms).join(", ")}`,
    );
    console.info(`failover: the nodes' error lines by message: ${JSON.stringify(errorSummary(cluster.errors()), null, 1)}`);
    expect(problems).toEqual({ gaps: [], doubled: [], lost: [], misplaced: [] });
    expect(ledger.acked).toBeGreaterThan(ROUNDS * WRITERS);
    for (const t of takeovers) {
      expect(t.by, `round ${t.round}: ${t.session} answered without x-sessiond-node`).not.toBeNull();
      expect(t.by, `round ${t.round}: ${t.session} answered by the node killed`).not.toBe(t.victim);
      expect(t.ms, `round ${t.round}: ${t.session} served again only ${t.ms} ms after the kill`).toBeLessThanOrEqual(TAKEOVER_BOUND_MS);
    }
    await lb.close();
  });
});

/** The node that owns the most of `sessions` now, and those sessions. */
async function busiestNode(cluster: Cluster, sessions: readonly string[]): Promise<{ victim: ClusterNode; owned: string[] }> {
  const owners = await cluster.owners();
  const byNode = cluster.nodes.map((node) => ({ victim: node, owned: sessions.filter((s) => owners.get(s) === node.name) }));
  return byNode.reduce((a, b) => (b.owned.length > a.owned.length ? b : a));
}

/** The nodes' error lines counted by their error's code and message (ids and numbers blanked), for the run's summary. */
function errorSummary(lines: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of lines) {
    let key = line;
    try {
      const entry = JSON.parse(line.slice(line.indexOf("{"))) as { msg?: string; err?: { code?: string; message?: string } };
      key = `${entry.err?.code ?? ""} ${entry.err?.message ?? entry.msg ?? ""}`;
    } catch {
      // Not JSON: counted as it is.
    }
    key = key.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>").replace(/\d+/g, "N").slice(0, 300);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
