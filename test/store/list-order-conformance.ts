import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SESSION_SORT_KEYS, type Session, type SessionFilter, type SessionSortKey, type SortOrder, TASK_SEARCH_CHARS, isSessiondError } from "../../src/core/index.js";
import { newSessionRecord } from "../../src/engine/records.js";
import { type HeldSessions, type Store, type WriteOp, listCursor } from "../../src/store/index.js";

/** Opens a fresh, empty store; `listScanRows` as config listScanRows (the default otherwise). */
export type ListStoreFactory = (options?: { listScanRows?: number }) => Promise<Store>;

const limits = { maxContextBytes: 1 << 20, maxEventBytes: 1 << 20 };
const ORDERS: readonly SortOrder[] = ["desc", "asc"];

/**
 * The Store contract's listing orders and search (GET /sessions?sort=…&order=…&q=…), run by
 * every backend: each order pages through every session once, ties included, whatever is
 * created between pages; `q` finds text in names and tasks.
 */
export function runListOrderConformance(name: string, open: ListStoreFactory): void {
  describe(`Store conformance, listing orders and search: ${name}`, () => {
    let store: Store;
    let clock = Date.parse("2026-03-01T00:00:00.000Z");
    const tick = () => new Date((clock += 1000)).toISOString();
    const session = (fields: Partial<Session> = {}): Session => ({ ...newSessionRecord({}, tick(), limits), ...fields });
    const put = (s: Session): WriteOp => ({ op: "put_session", session: s, insert: true, scalarsOnly: false });
    const ids = (sessions: readonly Session[]) => sessions.map((s) => s.id);

    /** Every session of a listing in `sort` and `order`, read page by page through the cursors. */
    const allPages = async (
      filter: Parameters<Store["listSessions"]>[0],
      sort: SessionSortKey,
      order: SortOrder,
      limit: number,
      options: { held?: HeldSessions; betweenPages?: (page: number) => Promise<void> } = {},
    ): Promise<Session[]> => {
      const paged: Session[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listSessions(filter, { limit, sort, order, ...(cursor ? { cursor } : {}) }, options.held);
        expect(page.items.length).toBeLessThanOrEqual(limit);
        paged.push(...page.items);
        cursor = page.next_cursor ?? undefined;
        await options.betweenPages?.(++pages);
      } while (cursor);
      return paged;
    };

    /** The order the store must list in: the sort value, then created_at, then id (created_at: then id). */
    const expectedOrder = (sessions: readonly Session[], sort: SessionSortKey, order: SortOrder): Session[] => {
      const key = (s: Session): (string | number)[] => {
        if (sort === "created_at") return [s.created_at, s.id];
        const value = sort === "agent_id" ? (s.agent_id ?? "") : s[sort];
        return [value, s.created_at, s.id];
      };
      const compare = (a: Session, b: Session) => {
        const [x, y] = [key(a), key(b)];
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
        return 0;
      };
      return [...sessions].sort((a, b) => (order === "asc" ? compare(a, b) : compare(b, a)));
    };

    /**
     * Sessions with ties on every sort value: names repeated across agents, agents missing (null
     * and ''), pairs created in the same millisecond, few statuses, kinds and iteration counts.
     */
    const tied = (count: number): Session[] => {
      const sessions: Session[] = [];
      let sharedAt = "";
      for (let i = 0; i < count; i++) {
        const group = Math.floor(i / 5);
        if (i % 3 === 0) sharedAt = tick();
        sessions.push(
          session({
            // Names are unique per agent: a name repeats once per group, each group another agent (null the first).
            name: `n${i % 5}`,
            agent_id: group === 0 ? null : `agent-${group % 3}-${group}`,
            created_at: i % 3 === 2 ? tick() : sharedAt,
            status: (["active", "paused", "completed"] as const)[i % 3]!,
            kind: i % 4 ? "agent" : "shell",
            iterations: i % 3,
            last_activity_at: `2026-04-01T00:00:0${i % 4}.000Z`,
            updated_at: `2026-04-02T00:00:0${i % 5}.000Z`,
            task: `task ${i}`,
          }),
        );
      }
      // '' is no agent too: it sorts with the sessions whose agent_id is null.
      sessions.push(session({ name: "no-agent-empty", agent_id: "", created_at: sessions[0]!.created_at }));
      return sessions;
    };

    beforeEach(async () => {
      store = await open();
    });
    /** Replaces the store with a fresh one that examines at most `listScanRows` sessions a search. */
    const reopen = async (listScanRows: number) => {
      await store.close();
      store = await open({ listScanRows });
    };
    afterEach(async () => {
      await store.close();
    });

    it("pages through every order either way with no gaps or repeats, ties on the sort value included", async () => {
      const all = tied(22);
      await store.commit(all.map(put));
      for (const sort of SESSION_SORT_KEYS) {
        for (const order of ORDERS) {
          expect(ids(await allPages({}, sort, order, 4)), `${sort} ${order}`).toEqual(ids(expectedOrder(all, sort, order)));
        }
      }
      // The default is created_at, newest first.
      expect(ids((await store.listSessions({}, { limit: 100 })).items)).toEqual(ids(expectedOrder(all, "created_at", "desc")));
    });

    it("merges several statuses and kinds by the order asked for, and drives a label filter in any order", async () => {
      const all = tied(22).map((s, i): Session => ({ ...s, labels: i % 2 ? { team: "core" } : {} }));
      await store.commit(all.map(put));
      const filter = { status: ["active", "completed"] as ("active" | "completed")[], kind: ["agent", "shell"] };
      const matching = all.filter((s) => s.status !== "paused");
      const labelled = all.filter((s) => s.labels.team === "core" && s.status === "active");
      for (const sort of ["name", "iterations", "created_at", "status"] as const) {
        for (const order of ORDERS) {
          expect(ids(await allPages(filter, sort, order, 3)), `${sort} ${order}`).toEqual(ids(expectedOrder(matching, sort, order)));
          expect(ids(await allPages({ labels: { team: "core" }, status: "active" }, sort, order, 2)), `labels, ${sort} ${order}`).toEqual(
            ids(expectedOrder(labelled, sort, order)),
          );
        }
      }
    });

    it("lists each session once when sessions are created between pages, and the new ones that sort after the cursor", async () => {
      const all = Array.from({ length: 9 }, (_, i) => session({ name: `m-${i}` }));
      await store.commit(all.map(put));
      const before = session({ name: "a-before-every-page" });
      const after = session({ name: "z-after-every-page" });
      const paged = await allPages({}, "name", "asc", 2, {
        betweenPages: async (page) => {
          if (page === 1) await store.commit([put(before), put(after)]);
        },
      });
      expect(ids(paged)).toEqual(ids([...all, after]));

      // Newest first, a session created later sorts before the cursor: the pages go on without it.
      const newer: Session[] = [];
      const newest = await allPages({}, "created_at", "desc", 3, {
        betweenPages: async () => {
          const s = session();
          newer.push(s);
          await store.commit([put(s)]);
        },
      });
      expect(ids(newest)).toEqual(ids(expectedOrder([...all, before, after], "created_at", "desc")));
      expect(newest.filter((s) => newer.some((n) => n.id === s.id))).toEqual([]);
    });

    it("places a held copy by its stored row and continues after the row, not the copy", async () => {
      const all = Array.from({ length: 8 }, (_, i) => session({ name: `h-${i}`, iterations: i }));
      await store.commit(all.map(put));
      // The caller holds newer copies whose sort values moved since the rows were written.
      const copies = new Map([all[2]!, all[3]!, all[5]!].map((s) => [s.id, { ...s, name: `renamed-${s.name}`, iterations: 100 - s.iterations }]));
      for (const sort of ["name", "iterations"] as const) {
        for (const order of ORDERS) {
          const listed = await allPages({}, sort, order, 2, { held: (id) => copies.get(id) });
          expect(ids(listed), `${sort} ${order}`).toEqual(ids(expectedOrder(all, sort, order)));
          expect(listed.filter((s) => s.name.startsWith("renamed-"))).toHaveLength(3);
        }
      }
      const page = await store.listSessions({}, { limit: 3, sort: "name", order: "asc" }, (id) => copies.get(id));
      expect(page.next_cursor).toBe(listCursor(page.positions[2]!));
    });

    it("refuses a cursor of another sort or order, naming the field, and continues a cursor made before sorts", async () => {
      const all = Array.from({ length: 5 }, () => session());
      await store.commit(all.map(put));
      const byName = await store.listSessions({}, { limit: 2, sort: "name", order: "asc" });
      for (const other of [{ sort: "name" as const, order: "desc" as const }, { sort: "created_at" as const }, {}]) {
        const err = await store.listSessions({}, { limit: 2, cursor: byName.next_cursor!, ...other }).catch((e: unknown) => e);
        expect(isSessiondError(err, "validation") && err.field, JSON.stringify(other)).toBe("cursor");
        expect((err as Error).message).toContain("sorted by name asc");
      }
      // A cursor of the form before sorts: [created_at, id] of a newest-first listing.
      const newestFirst = expectedOrder(all, "created_at", "desc");
      const legacy = Buffer.from(JSON.stringify([newestFirst[1]!.created_at, newestFirst[1]!.id])).toString("base64url");
      expect(ids((await store.listSessions({}, { limit: 10, cursor: legacy })).items)).toEqual(ids(newestFirst.slice(2)));
      const garbled = Buffer.from("2\u0000iterations\u0000asc\u0000many\u0000x\u0000y").toString("base64url");
      const err = await store.listSessions({}, { limit: 2, sort: "iterations", order: "asc", cursor: garbled }).catch((e: unknown) => e);
      expect(isSessiondError(err, "validation") && err.field).toBe("cursor");
    });

    it("searches names and tasks ignoring the case of ASCII letters, with % _ and \\ as plain characters", async () => {
      const build = session({ name: "Build-42", task: "Fix the <b>tests</b>" });
      const deploy = session({ name: "deploy", task: "ship 100% of it" });
      const thousand = session({ name: "thousand", task: "1000 things" });
      const underscore = session({ name: "under_score", task: null });
      const backslash = session({ name: "back\\slash", task: null });
      await store.commit([build, deploy, thousand, underscore, backslash].map(put));
      const found = async (q: string) => (await store.listSessions({ q }, { limit: 10, sort: "name", order: "asc" })).items.map((s) => s.name);
      expect(await found("build")).toEqual(["Build-42"]);
      expect(await found("<B>TESTS")).toEqual(["Build-42"]);
      expect(await found("100%")).toEqual(["deploy"]);
      expect(await found("%")).toEqual(["deploy"]);
      expect(await found("_")).toEqual(["under_score"]);
      expect(await found("\\")).toEqual(["back\\slash"]);
      expect(await found("no such text")).toEqual([]);
      // An empty search is no search.
      expect(await found("")).toHaveLength(5);
      expect((await store.stats({ q: "T" })).total).toBe(3); // Build-42 (tests), deploy (it), thousand (things)
    });

    it("combines a search with a status, a label and an order, across pages", async () => {
      const all = Array.from({ length: 16 }, (_, i) =>
        session({
          name: `job-${String(i).padStart(2, "0")}`,
          task: i % 2 ? "Nightly BUILD" : "lint",
          status: i % 4 < 2 ? "active" : "paused",
          labels: i % 3 ? { env: "prod" } : { env: "dev" },
        }),
      );
      await store.commit(all.map(put));
      const matching = all.filter((s) => s.task === "Nightly BUILD" && s.status === "active" && s.labels.env === "prod");
      expect(matching.length).toBeGreaterThan(2);
      for (const sort of ["created_at", "name"] as const) {
        for (const order of ORDERS) {
          const paged = await allPages({ q: "build", status: "active", labels: { env: "prod" } }, sort, order, 2);
          expect(ids(paged), `${sort} ${order}`).toEqual(ids(expectedOrder(matching, sort, order)));
        }
      }
    });

    it("matches q against the name and the first TASK_SEARCH_CHARS characters of the task, by code point, folding ASCII letters only", async () => {
      const filler = (n: number) => "y".repeat(n);
      // "needle" ends on the last character searched; what follows is not searched.
      const edge = session({ name: "edge", task: `${filler(TASK_SEARCH_CHARS - 6)}needle-beyond` });
      // Characters outside the BMP are two UTF-16 units but one character to either database.
      const astral = session({ name: "astral", task: `${"😀".repeat(TASK_SEARCH_CHARS - 5)}pin-past` });
      const accented = session({ name: "École-Build", task: "Çà et là" });
      const huge = session({ name: "huge", task: `head ${"z".repeat(3 * TASK_SEARCH_CHARS)} tail-text` });
      await store.commit([edge, astral, accented, huge].map(put));
      const found = async (q: string) => (await store.listSessions({ q }, { limit: 10, sort: "name", order: "asc" })).items.map((s) => s.name);
      expect(await found("needle")).toEqual(["edge"]);
      expect(await found("NEEDLE")).toEqual(["edge"]);
      expect(await found("beyond")).toEqual([]);
      expect(await found("pin")).toEqual(["astral"]);
      expect(await found("past")).toEqual([]);
      expect(await found("tail-text")).toEqual([]);
      expect(await found("HEAD Z")).toEqual(["huge"]);
      // ASCII letters in either case; É, Ç and à only as themselves.
      expect(await found("école")).toEqual([]);
      expect(await found("ÉCOLE-build")).toEqual(["École-Build"]);
      expect(await found("çà")).toEqual([]);
      expect(await found("Çà ET")).toEqual(["École-Build"]);
      expect((await store.stats({ q: "needle" })).total).toBe(1);
      expect((await store.stats({ q: "beyond" })).total).toBe(0);

      // A changed task is searched as it is now; a task taken away is not searched at all.
      await store.commit([
        { op: "put_session", session: { ...edge, task: "rewritten" }, insert: false, scalarsOnly: false },
        { op: "put_session", session: { ...huge, task: null }, insert: false, scalarsOnly: false },
      ]);
      expect(await found("needle")).toEqual([]);
      expect(await found("rewritten")).toEqual(["edge"]);
      expect(await found("head")).toEqual([]);
      await store.commit([{ op: "delete_session", session_id: edge.id }]);
      expect(await found("rewritten")).toEqual([]);
    });

    it("examines at most listScanRows sessions for a page of a search: short pages go on where the scan stopped, and find every match once", async () => {
      await reopen(5);
      const all = tied(40).map((s, i): Session => ({ ...s, task: i % 3 === 0 ? `Find ME ${i}` : `other ${i}`, labels: i % 2 ? { team: "core" } : {} }));
      await store.commit(all.map(put));
      const filters: SessionFilter[] = [
        { q: "find me" },
        { q: "find me", status: ["active", "completed"] },
        { q: "find me", labels: { team: "core" } },
        { q: "find me", agent_id: "agent-1-4" },
      ];
      let shortPagesWithCursor = 0;
      for (const filter of filters) {
        const matching = all.filter(
          (s) =>
            s.task!.startsWith("Find ME") &&
            (!filter.status || (filter.status as string[]).includes(s.status)) &&
            (!filter.labels || s.labels.team === "core") &&
            (filter.agent_id === undefined || s.agent_id === filter.agent_id),
        );
        for (const sort of ["created_at", "name", "iterations"] as const) {
          for (const order of ORDERS) {
            const paged: Session[] = [];
            let cursor: string | undefined;
            do {
              const page = await store.listSessions(filter, { limit: 3, sort, order, ...(cursor ? { cursor } : {}) });
              expect(page.items.length).toBeLessThanOrEqual(3);
              if (page.items.length < 3 && page.next_cursor) shortPagesWithCursor++;
              paged.push(...page.items);
              cursor = page.next_cursor ?? undefined;
            } while (cursor);
            expect(ids(paged), `${JSON.stringify(filter)} ${sort} ${order}`).toEqual(ids(expectedOrder(matching, sort, order)));
          }
        }
      }
      expect(shortPagesWithCursor).toBeGreaterThan(0);

      // One page examines five sessions: the newest five hold one match (i = 39 … 35: 39 and 36).
      const first = await store.listSessions({ q: "find me" }, { limit: 10 });
      expect(first.items.map((s) => s.task)).toEqual(["Find ME 39", "Find ME 36"]);
      expect(first.next_cursor).not.toBeNull();
      // A search with no match at all still ends, an empty page at a time.
      let pages = 0;
      let cursor: string | undefined;
      do {
        const page = await store.listSessions({ q: "no such text" }, { limit: 10, ...(cursor ? { cursor } : {}) });
        expect(page.items).toEqual([]);
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(Math.ceil(all.length / 5));
    });

    it("counts a search only when the other filters select at most listScanRows sessions, and refuses naming q otherwise", async () => {
      await reopen(5);
      const all = Array.from({ length: 8 }, (_, i) => session({ agent_id: i < 5 ? "five" : "three", task: i % 2 ? "odd" : "even" }));
      await store.commit(all.map(put));
      expect((await store.stats({ q: "odd", agent_id: "five" })).total).toBe(2);
      expect((await store.stats({ q: "odd", agent_id: "three" })).total).toBe(2);
      const err = await store.stats({ q: "odd" }).catch((e: unknown) => e);
      expect(isSessiondError(err, "validation") && err.field).toBe("q");
      expect((err as Error).message).toContain("at most 5 sessions");
      // Without q nothing is searched: every session is counted.
      expect((await store.stats({})).total).toBe(8);
    });
  });
}
