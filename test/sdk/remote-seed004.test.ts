/**
 * Seed 004's function names against a remote server (`client.seed004`): the same script run on
 * the embedded API and on a real server over a loopback port gives the same answers.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as embedded from "sessiond";
import { type RemoteSessions, type SessiondClient, createRemoteSessions } from "sessiond/client";
import { tempHome } from "../helpers/temp-home.js";
import { type TestServer, startServer } from "../server/harness.js";
import { connectClient } from "./support/connect.js";

/** What differs between two runs by nature: ids, names, clocks. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      // The embedded `history` is a lazy getter (and the remote shape has none): never read it here.
      if (key === "history") continue;
      const v = (value as Record<string, unknown>)[key];
      if (["id", "name", "sessionId", "createdAt", "updatedAt", "timestamp", "averageDurationMs", "workspace"].includes(key) && typeof v !== "object") continue;
      out[key] = stable(v);
    }
    return out;
  }
  return value;
}

type Api = Pick<
  RemoteSessions,
  | "startSession"
  | "pauseSession"
  | "resumeSession"
  | "completeSession"
  | "failSession"
  | "incrementIteration"
  | "recordToolCall"
  | "recordLearning"
  | "addEvent"
  | "updateContext"
> & {
  getSession(id: string): unknown;
  getSessionContext(id: string): unknown;
  isSessionResumable(id: string): boolean | Promise<boolean>;
  findSessions(q: embedded.SessionQuery): unknown;
  getActiveSessions(q?: object): unknown;
  getPausedSessions(q?: object): unknown;
  getCompletedSessions(q?: object): unknown;
  getFailedSessions(q?: object): unknown;
  getStats(q?: object): unknown;
  cleanupSessions(days: number): number | Promise<number>;
  removeSession(id: string): boolean | Promise<boolean>;
};

/** Seed 004's README, condensed: every function once, answers collected. */
async function script(api: Api): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const s = await api.startSession("Implement feature X", "developer", { userId: "user123", channelId: "c1", context: { priority: "high", keep: 1 } });
  out.started = s;
  out.paused = await api.pauseSession(s.id, "User requested pause");
  out.resumable = await api.isSessionResumable(s.id);
  out.resumed = await api.resumeSession(s.id);
  out.notResumable = await api.isSessionResumable(s.id);
  out.iterated = await api.incrementIteration(s.id, { step: "analysis", phase: "planning" });
  out.tool = await api.recordToolCall(s.id, "bash", { command: "npm test" }, { exitCode: 0 });
  out.learning = await api.recordLearning(s.id, "Learned to handle edge case X", "expertise/developer.md");
  out.custom = await api.addEvent(s.id, "custom_event", { customField: "value" });
  out.context = await api.updateContext(s.id, { currentPhase: "implementation", priority: null });
  out.resume = await api.getSessionContext(s.id);
  out.completed = await api.completeSession(s.id, "Feature implemented");
  out.read = await api.getSession(s.id);

  const bounded = await api.startSession("Bounded", "developer", { maxIterations: 2 });
  await api.incrementIteration(bounded.id);
  out.timedOut = await api.incrementIteration(bounded.id);
  const failed = await api.startSession("Other", "reviewer");
  out.failed = await api.failSession(failed.id, "Build failed");
  const active = await api.startSession("Still going", "reviewer", { userId: "user123" });
  await api.startSession("Paused one", "developer");
  await api.pauseSession((await api.startSession("To pause", "developer")).id);

  out.active = await api.getActiveSessions({ userId: "user123" });
  out.pausedList = await api.getPausedSessions();
  out.completedList = await api.getCompletedSessions();
  out.failedList = await api.getFailedSessions();
  out.found = await api.findSessions({ mode: "developer", status: ["completed", "timeout"] });
  out.limited = ((await api.findSessions({ limit: 2 })) as unknown[]).length;
  out.stats = await api.getStats();
  out.developerStats = await api.getStats({ mode: "developer" });
  out.cleaned = await api.cleanupSessions(30);
  out.removed = await api.removeSession(active.id);
  out.removedAgain = await api.removeSession(active.id);
  out.missing = await api.getSession(active.id);
  out.missingContext = await api.getSessionContext("no-such-session");
  return out;
}

describe("seed 004's functions against a remote server", () => {
  let home: ReturnType<typeof tempHome>;
  let server: TestServer;
  let client: SessiondClient;

  beforeEach(async () => {
    home = tempHome();
    embedded.configureSessions({ home: home.home });
    server = await startServer();
    client = await connectClient(server);
  });
  afterEach(async () => {
    await client.close();
    await server.close();
    await embedded.closeSessions();
    home.remove();
  });

  it("answers every function as the embedded API does", async () => {
    const local = await script(embedded as unknown as Api);
    const remote = await script(client.seed004);
    expect(stable(remote)).toEqual(stable(local));
    // The script exercised real states, not empty answers.
    expect(remote).toMatchObject({
      resumable: true,
      notResumable: false,
      completed: { status: "completed", result: "Feature implemented", iterations: 1, maxIterations: 50 },
      read: { context: { currentPhase: "implementation", keep: 1 }, metadata: { toolsUsed: ["bash"] } },
      timedOut: { status: "timeout", iterations: 2 },
      failed: { status: "failed", error: "Build failed" },
      removed: true,
      removedAgain: false,
      missing: null,
      missingContext: null,
      limited: 2,
      cleaned: 0,
    });
    expect((remote.resume as embedded.SessionResumeContext).recentHistory.map((e) => e.type)).toEqual([
      "start",
      "pause",
      "resume",
      "iteration",
      "tool_call",
      "learning",
      "custom_event",
      "context_update",
    ]);
    expect((remote.stats as embedded.SessionStatsSummary).total).toBe(6);
  });

  it("works as free functions, reads a session's history, and applies its own defaults", async () => {
    const { startSession, incrementIteration, getHistory, getSessionContext } = createRemoteSessions(client, { defaultMaxIterations: 3, recentHistoryLength: 2 });
    const s = await startSession("Defaults", "developer");
    expect(s.maxIterations).toBe(3);
    expect("history" in s).toBe(false);
    await incrementIteration(s.id, { n: 1 });
    await incrementIteration(s.id, { n: 2 });
    expect((await getHistory(s.id)).map((e) => [e.seq, e.type])).toEqual([
      [1, "start"],
      [2, "iteration"],
      [3, "iteration"],
    ]);
    expect((await getSessionContext(s.id))!.recentHistory.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("registers a webhook on the server with configureWebhook, never showing its secret", async () => {
    const hook = await client.seed004.configureWebhook("https://hooks.example.test/hooks", { events: ["complete", "error"], secret: "s3cret" });
    expect(hook).toEqual({ id: expect.any(String), url: "https://hooks.example.test/hooks", events: ["complete", "error"], has_secret: true, created_at: expect.any(String) });
    expect(await client.webhooks.list()).toEqual([hook]);
    await expect(client.seed004.configureWebhook("ftp://example.com/x")).rejects.toMatchObject({ code: "validation", field: "url" });
    await expect(client.seed004.configureWebhook("http://127.0.0.1:9/hooks")).rejects.toMatchObject({ code: "validation", field: "url" });
  });
});
