/**
 * Seed 002's participants in the engine: who a create names, joining once, forks, and names
 * generated for a user. On a real SQLite file, reopened where it matters.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SessionManager, type SessionChange } from "../../src/engine/index.js";
import { openSqliteStore } from "../../src/store/index.js";
import { tempHome } from "../helpers/temp-home.js";

describe("participants", () => {
  let home: ReturnType<typeof tempHome>;
  let manager: SessionManager;
  let changes: SessionChange[];
  let commits: number;

  const open = () => {
    const m = new SessionManager({ store: openSqliteStore(home.config), config: home.config, observeCommit: () => commits++ });
    m.bus.subscribe((c) => changes.push(c));
    return m;
  };

  beforeEach(() => {
    home = tempHome();
    changes = [];
    commits = 0;
    manager = open();
  });
  afterEach(async () => {
    await manager.close();
    home.remove();
  });

  it("starts with the participants given, then agent_id as an ai and user_id as a human, each once", async () => {
    const s = await manager.create({
      agent_id: "claude",
      user_id: "joel",
      participants: [
        { kind: "persona", id: "reviewer" },
        { kind: "ai", id: "claude" },
        { kind: "human", id: "ana", joined_at: "2026-01-02T03:04:05Z" },
      ],
    });
    expect(s.participants).toEqual([
      { kind: "persona", id: "reviewer", joined_at: s.created_at },
      { kind: "ai", id: "claude", joined_at: s.created_at },
      { kind: "human", id: "ana", joined_at: "2026-01-02T03:04:05.000Z" },
      { kind: "human", id: "joel", joined_at: s.created_at },
    ]);
    expect((await manager.create({})).participants).toEqual([]);
    await manager.close();
    manager = open();
    expect((await manager.get(s.id)).participants).toEqual(s.participants);
  });

  it("adds a newcomer once, without moving version or updated_at, and writes nothing for one already listed", async () => {
    const s = await manager.create({ agent_id: "claude" });
    await manager.flush();
    const before = { commits, changes: changes.length };

    const joined = await manager.join(s.id, [{ kind: "human", id: "joel" }]);
    expect(joined.participants.map((p) => `${p.kind}:${p.id}`)).toEqual(["ai:claude", "human:joel"]);
    expect(joined.version).toBe(s.version);
    expect(joined.updated_at).toBe(s.updated_at);
    const update = changes.at(-1);
    expect(update).toMatchObject({ type: "session.updated", updates: ["participants"] });
    expect(commits).toBe(before.commits + 1);

    const again = await manager.join(s.id, [{ kind: "human", id: "joel" }, { kind: "ai", id: "claude" }]);
    expect(again).toBe(joined);
    expect(changes.length).toBe(before.changes + 1);
    expect(commits).toBe(before.commits + 1);

    await manager.close();
    manager = open();
    expect((await manager.get(s.id)).participants).toEqual(joined.participants);
  });

  it("keeps an If-Match version taken before a join good after it", async () => {
    const s = await manager.create({});
    await manager.join(s.id, [{ kind: "persona", id: "critic" }]);
    const updated = await manager.update(s.id, { task: "next" }, { expected_version: s.version });
    expect(updated.version).toBe(s.version + 1);
    expect(updated.participants.map((p) => p.id)).toEqual(["critic"]);
  });

  it("refuses a participant of an unknown kind or without an id, naming the field", async () => {
    const s = await manager.create({});
    await expect(manager.create({ participants: [{ kind: "robot" as "ai", id: "r2" }] })).rejects.toMatchObject({ code: "validation", field: "participants.0.kind" });
    await expect(manager.join(s.id, [{ kind: "human", id: "ok" }, { kind: "human", id: "" }])).rejects.toMatchObject({ code: "validation", field: "participants.1.id" });
    expect((await manager.get(s.id)).participants).toEqual([]);
  });

  it("gives a fork the participants of the session it came from", async () => {
    const source = await manager.create({ agent_id: "claude", participants: [{ kind: "persona", id: "reviewer" }] });
    await manager.join(source.id, [{ kind: "human", id: "joel" }]);
    const checkpoint = await manager.createCheckpoint(source.id, { label: "here" });
    const fork = await manager.fork(source.id, checkpoint.id);
    expect(fork.participants.map((p) => `${p.kind}:${p.id}`).sort()).toEqual(["ai:claude", "human:joel", "persona:reviewer"]);
  });

  it("names a session created for a user after the user, and one without a user after its role", async () => {
    const forJoel = await manager.create({ user_id: "Joel", mode: "developer" });
    expect(forJoel.name).toMatch(/^human-joel-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    expect(forJoel.name.endsWith(forJoel.id.replace(/-/g, "").slice(-8))).toBe(true);
    expect((await manager.create({ user_id: "joel@example.com" })).name).toMatch(/^human-joel-example-com-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    expect((await manager.create({ mode: "developer" })).name).toMatch(/^developer-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/);
    expect((await manager.create({ user_id: "ユーザー", mode: "developer" })).name).toMatch(/^developer-/);
    expect((await manager.create({ user_id: "joel", name: "chosen" })).name).toBe("chosen");
  });
});
