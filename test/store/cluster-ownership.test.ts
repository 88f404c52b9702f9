import pg from "pg";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSessiondError } from "../../src/core/index.js";
import { ClusterOwnership, SessionManager, ownerOfError } from "../../src/engine/index.js";
import { markOrphansCrashed } from "../../src/drivers/orphans.js";
import { isServerGoneReason, nodeGoneReason } from "../../src/drivers/server-gone.js";
import { registerClusterMetrics } from "../../src/server/cluster/index.js";
import { type Store, openStore } from "../../src/store/index.js";
import { lintExposition } from "../helpers/prometheus-lint.js";
import { type TestSchema, createTestSchema } from "../helpers/postgres.js";
import { serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";

const postgres = await serviceAvailable("postgres");

/** One node: a store of its own on the shared schema, its membership and its engine. */
interface Node {
  readonly manager: SessionManager;
  readonly membership: ClusterOwnership;
  readonly store: Store;
}

describe.skipIf(!postgres)("several engines on one PostgreSQL schema: ownership leases and fencing", () => {
  let home: ReturnType<typeof tempHome>;
  let schema: TestSchema;
  const nodes: Node[] = [];

  const node = async (name: string, fingerprint = "same-tokens", now?: () => number): Promise<Node> => {
    const config = { ...home.config, store: "postgres" as const, pgUrl: schema.url };
    const store = await openStore(config);
    const membership = new ClusterOwnership({
      cluster: store.cluster!,
      name,
      url: `http://${name}.invalid`,
      authFingerprint: fingerprint,
      leaseTtlMs: 5000,
      leaseRenewMs: 500,
      rememberedOwners: 100,
      ...(now ? { now } : {}),
    });
    try {
      await membership.start();
    } catch (err) {
      await store.close();
      throw err;
    }
    const manager = new SessionManager({ store, config, ownership: membership });
    const made = { manager, membership, store };
    nodes.push(made);
    return made;
  };

  /**
   * The node goes silent, as a stalled process does: it renews no more and its lease ends (at once
   * here, instead of after the TTL), while it still trusts its memory.
   */
  const stall = (n: Node) => n.membership.stop();

  /** Runs SQL on the schema as an operator would with psql. */
  const sql = async (text: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows;
    } finally {
      await client.end();
    }
  };

  beforeEach(async () => {
    home = tempHome();
    schema = await createTestSchema();
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) {
      await n.membership.stop().catch(() => undefined);
      await n.manager.close();
    }
    await schema.drop();
    home.remove();
  });

  it("gives each session one owner: another node is refused while the owner's lease runs, and takes it over once the owner left", async () => {
    const a = await node("a");
    const b = await node("b");
    const s = await a.manager.create({ name: "owned" });
    await a.manager.appendEvent(s.id, "note", { from: "a" });

    const refused = await b.manager.appendEvent(s.id, "note", { from: "b" }).catch((err: unknown) => err);
    expect(isSessiondError(refused, "owned_elsewhere")).toBe(true);
    expect(ownerOfError(refused)).toMatchObject({ name: "a", url: "http://a.invalid" });
    expect(await b.membership.place(s.id)).toMatchObject({ here: false, owner: { name: "a" } });

    await a.manager.flush();
    await a.membership.stop();
    await b.manager.appendEvent(s.id, "note", { from: "b" });
    expect(await b.membership.place(s.id)).toEqual({ here: true });
    const events = await b.manager.listEvents(s.id);
    expect(events.map((e) => [e.seq, e.type, e.data.from ?? null])).toEqual([
      [1, "start", null],
      [2, "note", "a"],
      [3, "note", "b"],
    ]);
    const [owner] = await sql("SELECT epoch FROM session_owners WHERE session_id = $1", [s.id]);
    expect(owner.epoch).toBe("2");
  });

  it("refuses (fences) a stale owner's write once another node took the session over, and the stale node then forwards", async () => {
    const a = await node("a");
    const b = await node("b");
    const s = await a.manager.create({ name: "fenced" });
    await a.manager.appendEvent(s.id, "note", { n: 1 });
    // A's lease runs out by the database's clock while A itself still trusts it (a stall, seen from outside).
    await stall(a);
    await b.manager.appendEvent(s.id, "note", { n: 2, by: "b" });

    const stale = await a.manager.appendEvent(s.id, "note", { n: 3, by: "a" }).catch((err: unknown) => err);
    expect(isSessiondError(stale, "session_moved"), String(stale)).toBe(true);
    // A forgot its copy: it reads the session as stored, and its next write is refused with the owner named.
    const next = await a.manager.appendEvent(s.id, "note", { n: 4, by: "a" }).catch((err: unknown) => err);
    expect(isSessiondError(next, "owned_elsewhere")).toBe(true);
    expect(ownerOfError(next)?.name).toBe("b");
    expect((await a.manager.get(s.id)).last_seq).toBe(3);

    const events = await b.manager.listEvents(s.id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events.at(-1)!.data).toEqual({ n: 2, by: "b" });
  });

  it("keeps a session when its owner's lease lapsed but nobody took it over: the same epoch, memory trusted again", async () => {
    const a = await node("a");
    const s = await a.manager.create({ name: "lapsed" });
    await sql("UPDATE cluster_nodes SET lease_until = now() - interval '1 second' WHERE name = 'a'");
    await expect.poll(async () => (await sql("SELECT lease_until > now() AS live FROM cluster_nodes WHERE name = 'a'"))[0].live).toBe(true);
    await a.manager.appendEvent(s.id, "note", {});
    expect((await a.manager.get(s.id)).last_seq).toBe(2);
    const [owner] = await sql("SELECT epoch FROM session_owners WHERE session_id = $1", [s.id]);
    expect(owner.epoch).toBe("1");
  });

  it("survives owner rows edited by hand: deleted, pointed at an unknown node, or given another epoch", async () => {
    const a = await node("a");
    const b = await node("b");
    const [x, y, z] = [await a.manager.create({ name: "x" }), await a.manager.create({ name: "y" }), await a.manager.create({ name: "z" })];
    await sql("DELETE FROM session_owners WHERE session_id = $1", [x.id]);
    await sql("UPDATE session_owners SET node_id = 'nobody' WHERE session_id = $1", [y.id]);
    await sql("UPDATE session_owners SET epoch = 41 WHERE session_id = $1", [z.id]);
    for (const s of [x, y, z]) {
      // A's write built on its old epoch is refused, never applied over whatever the row now says.
      const refused = await a.manager.appendEvent(s.id, "note", { by: "a" }).catch((err: unknown) => err);
      expect(isSessiondError(refused, "session_moved")).toBe(true);
    }
    // An unowned or dead-owned session goes to whoever asks first; z's row still names a (live) at another epoch.
    await b.manager.appendEvent(x.id, "note", { by: "b" });
    await b.manager.appendEvent(y.id, "note", { by: "b" });
    await a.manager.appendEvent(z.id, "note", { by: "a" });
    for (const s of [x, y, z]) {
      const events = await b.manager.listEvents(s.id);
      expect(events.map((e) => e.seq)).toEqual([1, 2]);
    }
  });

  it("marks a live session crashed, naming its node, only once that node's lease ran out", async () => {
    const a = await node("a");
    const b = await node("b");
    const shell = await a.manager.create({ name: "sh", kind: "shell" });
    const agent = await a.manager.create({ name: "agent" });
    const noLog = { info() {}, warn() {}, error() {}, debug() {} };
    const config = { stopGraceMs: 100 };
    expect(await markOrphansCrashed(b.manager, config, () => false, noLog)).toEqual([]);
    expect((await b.manager.get(shell.id)).status).toBe("active");

    await stall(a);
    const marked = await markOrphansCrashed(b.manager, config, () => false, noLog);
    expect(marked.map((s) => s.id)).toEqual([shell.id]);
    const crashed = await b.manager.get(shell.id);
    expect(crashed.status).toBe("crashed");
    const [crash] = await b.manager.listEvents(shell.id, { types: ["crash"] });
    expect(crash!.data.reason).toBe(nodeGoneReason("a"));
    expect(isServerGoneReason(crash!.data.reason)).toBe(true);
    // An agent session has no process: it stays as it was, taken over when someone asks.
    expect((await b.manager.get(agent.id)).status).toBe("active");
  });

  it("does not depend on the nodes' clocks agreeing: leases are the database's, trust is each node's own elapsed time", async () => {
    // b's clock is ten hours ahead of a's and runs from another origin: only intervals on it count.
    const skew = 10 * 3600_000;
    const a = await node("a");
    const b = await node("b", "same-tokens", () => performance.now() + skew);
    const s = await a.manager.create({ name: "skewed" });
    expect(isSessiondError(await b.manager.appendEvent(s.id, "note", {}).catch((e: unknown) => e), "owned_elsewhere")).toBe(true);
    await a.manager.flush();
    await a.membership.stop();
    await b.manager.appendEvent(s.id, "note", { by: "b" });
    expect(await b.membership.place(s.id)).toEqual({ here: true });
    expect((await b.manager.listEvents(s.id)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it("counts what it holds, claims, renews and loses, in Prometheus families that pass the lint", async () => {
    const a = await node("a");
    const b = await node("b");
    const registry = new Registry();
    const countForward = registerClusterMetrics(registry, a.membership);
    const s = await a.manager.create({ name: "counted" });
    await a.manager.create({ name: "counted-2" });
    await stall(a);
    await b.manager.appendEvent(s.id, "note", {});
    await a.manager.appendEvent(s.id, "note", {}).catch(() => undefined);
    countForward("relayed");
    const text = await registry.metrics();
    const { families, problems } = lintExposition(text);
    expect(problems).toEqual([]);
    const value = (name: string) => families.find((f) => f.name === name)?.metrics[0]?.value;
    expect(value("sessiond_cluster_held_sessions")).toBe("1");
    expect(Number(value("sessiond_cluster_claims_total"))).toBeGreaterThanOrEqual(2);
    expect(value("sessiond_cluster_sessions_lost_total")).toBe("1");
    expect(text).toContain('sessiond_forwarded_requests_total{result="relayed"} 1');
  });

  it("places another live node's session without claiming it (no row lock), and remembers the owner", async () => {
    const a = await node("a");
    const b = await node("b");
    const s = await a.manager.create({ name: "elsewhere" });
    for (let i = 0; i < 5; i++) expect(await b.membership.place(s.id)).toMatchObject({ here: false, owner: { name: "a" } });
    expect(b.membership.counts.claims).toBe(0);
    const [owner] = await sql("SELECT epoch, since FROM session_owners WHERE session_id = $1", [s.id]);
    expect(owner.epoch).toBe("1");
  });

  it("tells takeover listeners which node a session came from, and serves no one before they are done", async () => {
    const a = await node("a");
    const b = await node("b");
    const s = await a.manager.create({ name: "taken" });
    const heard: string[] = [];
    b.manager.onSessionTakenOver(async (id, from) => {
      heard.push(`${id}@${from}`);
      await b.manager.appendEvent(id, "taken_over", { from });
    });
    await stall(a);
    expect(await b.membership.place(s.id)).toEqual({ here: true });
    expect(heard).toEqual([`${s.id}@a`]);
    const events = await b.manager.listEvents(s.id);
    expect(events.at(-1)).toMatchObject({ seq: 2, type: "taken_over", data: { from: "a" } });
    // A session this node creates, or already holds, is no takeover.
    const own = await b.manager.create({ name: "own" });
    await b.manager.appendEvent(own.id, "note", {});
    expect(heard).toHaveLength(1);
  });

  it("forgets, when a node starts, the rows of nodes long gone that own nothing, and keeps those that own sessions", async () => {
    const a = await node("a");
    await a.manager.create({ name: "kept" });
    await sql("INSERT INTO cluster_nodes (id, name, url, auth_fingerprint, lease_until) VALUES ('gone-empty', 'old', NULL, 'same-tokens', now() - interval '1 hour')");
    await sql("INSERT INTO cluster_nodes (id, name, url, auth_fingerprint, lease_until) VALUES ('gone-owner', 'old-2', NULL, 'same-tokens', now() - interval '1 hour')");
    await sql("INSERT INTO session_owners (session_id, node_id, epoch) VALUES ('some-session', 'gone-owner', 3)");
    await node("b");
    const names = (await sql("SELECT name FROM cluster_nodes ORDER BY name")).map((r) => r.name);
    expect(names).toEqual(["a", "b", "old-2"]);
  });

  it("names as peers the other live nodes that take requests: not itself, a node whose lease ran out, or one with no URL", async () => {
    const a = await node("a");
    await node("b");
    await sql("INSERT INTO cluster_nodes (id, name, url, auth_fingerprint, lease_until) VALUES ('gone', 'old', 'http://old.invalid', 'same-tokens', now() - interval '1 second')");
    await sql("INSERT INTO cluster_nodes (id, name, url, auth_fingerprint, lease_until) VALUES ('embedded', 'no-url', NULL, 'same-tokens', now() + interval '1 hour')");
    expect(await a.membership.peers()).toEqual([expect.objectContaining({ name: "b", url: "http://b.invalid" })]);
  });

  it("refuses to join a cluster whose live nodes accept other tokens, naming the node", async () => {
    await node("a", "tokens-1");
    await expect(node("b", "tokens-2")).rejects.toThrow(/node a serves this PostgreSQL schema with another set of tokens/);
  });
});
