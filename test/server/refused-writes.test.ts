import { afterEach, expect, it } from "vitest";
import { POISON, refusePoisonSql } from "../helpers/refusing-store.js";
import { type TestServer, startServer } from "./harness.js";

/**
 * One tenant's bad write never fails another's (DESIGN.md §6), on either store (this suite also
 * runs with the server on PostgreSQL). The database refuses POISON — a constraint this test adds,
 * standing for any value the validator does not catch — so agent B's poisoned appends pass
 * validation and reach the group commit, in the same batches as agent A's appends.
 */

const A_APPENDS = 4000;
const B_REFUSED = 150;
const B_GOOD = 150;
/** Requests of one agent in flight at once. */
const IN_FLIGHT = 32;

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Sends `count` requests, `IN_FLIGHT` at a time, and returns their statuses in order. */
async function flood(count: number, send: (i: number) => Promise<number>): Promise<number[]> {
  const statuses: number[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const i = next++;
        statuses[i] = await send(i);
      }
    }),
  );
  return statuses;
}

it("commits all of agent A's 4,000 concurrent appends, seqs without a gap, while the store refuses 150 of agent B's", { timeout: 240_000 }, async () => {
  const s = await startServer({ rateLimitMax: 0 });
  server = s;
  await s.sql(refusePoisonSql(s.backend));
  const create = async (agent: string) => (await s.json({ method: "POST", url: "/sessions/", body: { agent_id: agent } })).body;
  const a = await create("agent-a");
  const b = await create("agent-b");
  const append = async (id: string, type: string, data: Record<string, unknown>) =>
    (await s.request({ method: "POST", url: `/sessions/${id}/events`, body: { type, data } })).statusCode;

  const [aStatuses, bStatuses] = await Promise.all([
    flood(A_APPENDS, (i) => append(a.id, "note", { i })),
    // B alternates a poisoned append with a good one.
    flood(B_REFUSED + B_GOOD, (i) => (i % 2 === 0 ? append(b.id, POISON, { i }) : append(b.id, "note", { i }))),
  ]);

  expect(aStatuses.filter((status) => status !== 201)).toEqual([]);
  const aEvents = (await s.json({ method: "GET", url: `/sessions/${a.id}/events?limit=10000` })).body as { seq: number; data: { i?: number } }[];
  expect(aEvents.map((e) => e.seq)).toEqual(Array.from({ length: A_APPENDS + 1 }, (_, i) => i + 1));
  expect(aEvents.slice(1).map((e) => e.data.i).sort((x, y) => x! - y!)).toEqual(Array.from({ length: A_APPENDS }, (_, i) => i));
  expect((await s.json({ method: "GET", url: `/sessions/${a.id}` })).body).toMatchObject({ last_seq: A_APPENDS + 1, version: 1 });

  // A poisoned append was refused by the store (422), or was built on one refused before it in
  // the same commit and failed with a conflict (409), as a good append after one may.
  const poisoned = bStatuses.filter((_, i) => i % 2 === 0);
  const good = bStatuses.filter((_, i) => i % 2 === 1);
  expect(poisoned.every((status) => status === 422 || status === 409)).toBe(true);
  expect(poisoned).toContain(422);
  expect(good.every((status) => status === 201 || status === 409)).toBe(true);
  // B's history holds exactly its committed appends, without a gap.
  const bEvents = (await s.json({ method: "GET", url: `/sessions/${b.id}/events?limit=10000` })).body as { seq: number; type: string }[];
  expect(bEvents.map((e) => e.seq)).toEqual(Array.from({ length: bEvents.length }, (_, i) => i + 1));
  expect(bEvents.filter((e) => e.type === "note")).toHaveLength(good.filter((status) => status === 201).length);
  expect(bEvents.some((e) => e.type === POISON)).toBe(false);
  expect((await s.json({ method: "GET", url: `/sessions/${b.id}` })).body.last_seq).toBe(bEvents.length);

  // The store did refuse commits: at least one for each append it refused.
  const metrics = (await s.request({ method: "GET", url: "/metrics" })).body;
  expect(Number(/^sessiond_commit_failures_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(poisoned.filter((status) => status === 422).length);
});
