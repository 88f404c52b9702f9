import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClusterOwnership, SessionManager } from "../../src/engine/index.js";
import { FeedHub, type OutletMessage, type Sink } from "../../src/events/feeds/index.js";
import type { Store } from "../../src/store/index.js";
import { listenForCommits } from "../../src/store/postgres/commit-notices.js";
import { openPostgresStore } from "../../src/store/postgres/index.js";
import { freePort } from "../helpers/ports.js";
import { type TestSchema, adminQuery, createTestSchema } from "../helpers/postgres.js";
import { SERVICES, serviceAvailable } from "../helpers/services.js";
import { tempHome } from "../helpers/temp-home.js";
import { expectNoLeakedHandles } from "./support/leaks.js";
import { waitFor } from "./support/wait.js";

const postgres = await serviceAvailable("postgres");

/** A feed client that keeps what it is sent: the events' positions, in the order they came. */
class CollectingSink implements Sink {
  readonly positions: number[] = [];
  readonly bufferedBytes = 0;
  private readonly closeListeners: (() => void)[] = [];

  write(messages: readonly OutletMessage[]): void {
    for (const m of messages) {
      const body = JSON.parse(m.json) as { type: string; pos?: number };
      if (body.type === "event") this.positions.push(body.pos!);
    }
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  end(): void {
    for (const listener of this.closeListeners.splice(0)) listener();
  }
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }
}

/** A connection string to `schema` whose connections carry `name`, so a test can find them in pg_stat_activity. */
function urlNamed(schema: TestSchema, name: string): string {
  const url = new URL(schema.url);
  url.searchParams.set("application_name", name);
  return url.toString();
}

/** The backend ids of the connections named `name` that are listening for commits. */
async function listeners(name: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: SERVICES.postgres.url });
  await client.connect();
  try {
    const found = await client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query = 'LISTEN sessiond_commits' ORDER BY pid",
      [name],
    );
    return found.rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

/** Waits until one connection named `name` listens for commits (one other than `not`), and returns its backend id. */
function listening(name: string, not?: number): Promise<number> {
  return waitFor(`${name} listening${not === undefined ? "" : " on a new connection"}`, async () => {
    const pids = await listeners(name);
    return pids.length === 1 && pids[0] !== not ? pids[0] : undefined;
  });
}

/** Ends the connections named `name` that are listening for commits, as a failing network or an operator would. */
async function killListeners(name: string): Promise<number[]> {
  const pids = await listeners(name);
  for (const pid of pids) await adminQuery(`SELECT pg_terminate_backend(${pid})`);
  return pids;
}

describe.skipIf(!postgres)("feeds across nodes on one PostgreSQL schema", () => {
  expectNoLeakedHandles();
  let schema: TestSchema;
  const homes: ReturnType<typeof tempHome>[] = [];
  const engines: { manager: SessionManager; store: Store; feed?: FeedHub; membership?: ClusterOwnership }[] = [];
  let run = 0;

  /**
   * One node's engine: its own store (pool and listening connection) on the shared schema, named
   * `<name>-<run>` in pg_stat_activity, and a feed hub over it polling every `clusterPollMs`
   * (undefined: no poll, notices only). `notices: false` drops the store's notices, as if every
   * one were lost.
   */
  const engine = async (name: string, options: { clusterPollMs?: number; notices?: boolean; member?: boolean } = {}) => {
    const home = tempHome();
    homes.push(home);
    const opened = await openPostgresStore({ url: urlNamed(schema, `${name}-${run}`) });
    const store: Store = options.notices === false ? { ...opened, onCommitted: () => () => {} } : opened;
    const config = { ...home.config, store: "postgres" as const, pgUrl: schema.url };
    // A cluster member claims each session it changes, as `sessiond serve` on PostgreSQL does.
    const membership = options.member
      ? new ClusterOwnership({ cluster: opened.cluster!, name, url: null, authFingerprint: "test", leaseTtlMs: config.leaseTtlMs, leaseRenewMs: config.leaseRenewMs, rememberedOwners: config.hotPoolSize })
      : undefined;
    await membership?.start();
    const manager = new SessionManager({ store, config, ...(membership ? { ownership: membership } : {}) });
    const feed = new FeedHub(store, manager, config.feedMaxBufferedBytes, config.feedFlushIntervalMs, (err) => {
      throw err;
    }, options.clusterPollMs);
    engines.push({ manager, store: opened, feed, ...(membership ? { membership } : {}) });
    return { manager, store, feed, membership, app: `${name}-${run}` };
  };

  const subscribe = async (feed: FeedHub, after?: number) => {
    const sink = new CollectingSink();
    await feed.subscribe(sink, {}, after);
    return sink;
  };

  /** Every event position in the store, in order. */
  const allPositions = async (store: Store) => (await store.listFeed(0, 100_000)).map((e) => e.pos);

  beforeEach(async () => {
    run += 1;
    schema = await createTestSchema();
  });
  afterEach(async () => {
    for (const { manager, store, feed, membership } of engines.splice(0)) {
      feed?.close(1001, "shutting_down");
      await membership?.stop();
      await manager.close();
      await store.close();
    }
    await schema.drop();
    for (const home of homes.splice(0)) home.remove();
  });

  it("gives a feed on one node the events another node commits, with its own, once each and in position order", async () => {
    const a = await engine("feed-a", { clusterPollMs: 200 });
    const b = await engine("feed-b", { clusterPollMs: 200 });
    const early = await b.manager.create({ name: "before-the-feed" });
    const sink = await subscribe(a.feed, 0);

    // Both nodes write at once, each to its own sessions: A's commits wake its feed through its
    // bus, B's through notices and the poll, interleaved in position order.
    const writes = async (node: typeof a, label: string) => {
      const s = await node.manager.create({ name: `${label}-session` });
      for (let i = 0; i < 40; i++) await node.manager.appendEvent(s.id, "note", { i, label });
    };
    await Promise.all([writes(a, "a"), writes(b, "b"), b.manager.appendEvent(early.id, "note", { late: true })]);

    const expected = await allPositions(a.store);
    expect(expected.length).toBeGreaterThan(80);
    await waitFor("the feed on A to have every event", () => sink.positions.length >= expected.length);
    expect(sink.positions).toEqual(expected);
  });

  it("wakes on notices alone, and after its listening connection is killed listens again and still gets every event", async () => {
    const a = await engine("notice-a");
    const b = await engine("notice-b");
    const sink = await subscribe(a.feed);
    const session = await b.manager.create({ name: "written-on-b" });
    await waitFor("the feed on A (no poll) to get B's start event", () => sink.positions.length >= 1);
    const before = await listening(a.app);

    expect(await killListeners(a.app)).toEqual([before]);
    // Committed while A may not be listening: A reads it when it listens again, if no notice came.
    await b.manager.appendEvent(session.id, "note", { while: "down" });
    await listening(a.app, before);
    await b.manager.appendEvent(session.id, "note", { after: "reconnect" });

    const expected = await allPositions(a.store);
    await waitFor("the feed on A to have B's events", () => sink.positions.length >= expected.length);
    expect(sink.positions).toEqual(expected);
  });

  it("polls while it has subscribers, so other nodes' events arrive when every notice is lost", async () => {
    const a = await engine("poll-a", { clusterPollMs: 50, notices: false });
    const b = await engine("poll-b");
    const sink = await subscribe(a.feed);
    const session = await b.manager.create({ name: "unannounced" });
    for (let i = 0; i < 5; i++) await b.manager.appendEvent(session.id, "note", { i });

    const expected = await allPositions(a.store);
    await waitFor("the feed on A to poll B's events", () => sink.positions.length >= expected.length);
    expect(sink.positions).toEqual(expected);
  });

  it("follows a session that moves to another node: its events from both owners, once each, in order", async () => {
    const a = await engine("move-a", { member: true, clusterPollMs: 200 });
    const b = await engine("move-b", { member: true });
    const watcher = await engine("move-watch", { clusterPollMs: 200 });
    const sink = await subscribe(watcher.feed);
    const s = await a.manager.create({ name: "moving" });
    await a.manager.appendEvent(s.id, "note", { on: "a" });
    // A leaves: its lease ends now and B may take the session over (next epoch).
    await a.membership!.stop();
    await b.manager.appendEvent(s.id, "note", { on: "b" });
    await b.manager.complete(s.id, { ok: true });

    const events = await watcher.store.listFeed(0, 1000);
    expect(events.map((e) => e.event.type)).toEqual(["start", "note", "note", "complete"]);
    await waitFor("the watching feed to have all of them", () => sink.positions.length >= events.length);
    expect(sink.positions).toEqual(events.map((e) => e.pos));
  });
});

describe.skipIf(!postgres)("listenForCommits", () => {
  expectNoLeakedHandles();
  let schema: TestSchema;
  let run = 0;
  const pools: pg.Pool[] = [];
  const pool = (url: string) => {
    const p = new pg.Pool({ connectionString: url });
    pools.push(p);
    return p;
  };
  /** A commit's notice, as commitBatch sends it: naming the schema it wrote to. */
  const notifyCommit = async () => adminQuery(`SELECT pg_notify('sessiond_commits', '${schema.name}')`);

  beforeEach(async () => {
    run += 1;
    schema = await createTestSchema();
  });
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.end();
    await schema.drop();
  });

  it("calls its listeners on each notice and once each time it (re)opens its connection, reporting the drop", async () => {
    const app = `listen-${run}`;
    const errors: Error[] = [];
    const notices = listenForCommits(pool(urlNamed(schema, app)), { onError: (err) => errors.push(err), retryMaxMs: 100 });
    // Other test files share the database: counts are "at least", and another schema's notices are not ours.
    let calls = 0;
    const stop = notices.subscribe(() => (calls += 1));
    await waitFor("the call on opening", () => calls >= 1);
    const first = await listening(app);
    let seen = calls;
    await notifyCommit();
    await waitFor("the notice", () => calls > seen);

    seen = calls;
    expect(await killListeners(app)).toEqual([first]);
    await waitFor("the call after reopening", () => calls > seen);
    expect(errors.map((e) => e.message).join("\n")).toMatch(/terminat/i);
    await listening(app, first);
    seen = calls;
    await notifyCommit();
    await waitFor("a notice on the new connection", () => calls > seen);

    stop();
    seen = calls;
    await notifyCommit();
    await notices.close();
    expect(calls).toBe(seen);
    expect(await listeners(app)).toEqual([]);
  });

  it("keeps trying, reporting each failure, while the database cannot be reached, and stops on close", async () => {
    const port = await freePort();
    const errors: Error[] = [];
    const notices = listenForCommits(pool(`postgres://postgres@127.0.0.1:${port}/test`), { onError: (err) => errors.push(err), retryMaxMs: 20 });
    notices.subscribe(() => {
      throw new Error("never called: it never connects");
    });
    await waitFor("several failed attempts", () => errors.length >= 3);
    await notices.close();
    const reported = errors.length;
    expect(errors[0]!.message).toMatch(/ECONNREFUSED/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors.length).toBe(reported);
  });
});
