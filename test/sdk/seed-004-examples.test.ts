/**
 * Every usage example of seed 004 (the discord-bot session persistence README), run as written
 * against the embedded API. Only the imports change ("./agents/index.js" → "sessiond"), and the
 * example's console output is collected so the test can check it.
 */
import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  addEvent,
  cleanupSessions,
  closeSessions,
  completeSession,
  configureSessions,
  configureWebhook,
  failSession,
  findSessions,
  getActiveSessions,
  getCompletedSessions,
  getFailedSessions,
  getPausedSessions,
  getSession,
  getSessionContext,
  getStats,
  incrementIteration,
  isSessionResumable,
  pauseSession,
  recordLearning,
  recordToolCall,
  removeSession,
  resumeSession,
  sessionManager,
  startSession,
  updateContext,
} from "sessiond";
import { SessionAwareAgent } from "../../examples/session-aware-agent.js";
import { tempHome } from "../helpers/temp-home.js";

let home: ReturnType<typeof tempHome>;
let output: unknown[][];
const console = { log: (...args: unknown[]) => output.push(args), error: (...args: unknown[]) => output.push(args) };

beforeEach(() => {
  home = tempHome();
  configureSessions({ home: home.home });
  output = [];
});
afterEach(async () => {
  await closeSessions();
  home.remove();
});

describe("seed 004 usage examples", () => {
  it("Basic Session Management", async () => {
    // Start a new session
    const session = await startSession("Implement feature X", "developer", {
      userId: "user123",
      channelId: "channel456",
      maxIterations: 50,
      context: { priority: "high" },
    });

    console.log(`Session started: ${session.id}`);

    // Pause for later
    await pauseSession(session.id, "User requested pause");

    // Resume
    await resumeSession(session.id);

    // Complete successfully
    await completeSession(session.id, "Feature implemented");

    expect(output[0]).toEqual([`Session started: ${session.id}`]);
    expect(getSession(session.id)).toMatchObject({
      status: "completed",
      result: "Feature implemented",
      userId: "user123",
      channelId: "channel456",
      maxIterations: 50,
      context: { priority: "high" },
    });
    expect(getSession(session.id)!.history.map((e) => e.type)).toEqual(["start", "pause", "resume", "complete"]);

    // Or fail with error
    const other = await startSession("Implement feature Y", "developer");
    await failSession(other.id, "Build failed");
    expect(getSession(other.id)).toMatchObject({ status: "failed", error: "Build failed" });
  });

  it("Event Tracking", async () => {
    const session = await startSession("Track events", "developer");

    // Track iteration progress
    await incrementIteration(session.id, {
      step: "analysis",
      phase: "planning",
    });

    // Record tool usage
    await recordToolCall(session.id, "bash", { command: "npm test" }, { exitCode: 0, output: "All tests passed" });

    // Record learning events
    await recordLearning(session.id, "Learned to handle edge case X", "expertise/developer.md");

    // Custom events
    await addEvent(session.id, "custom_event", {
      customField: "value",
    });

    const history = getSession(session.id)!.history;
    expect(history.map((e) => [e.type, e.data])).toEqual([
      ["start", expect.any(Object)],
      ["iteration", { step: "analysis", phase: "planning" }],
      ["tool_call", { tool: "bash", args: { command: "npm test" }, result: { exitCode: 0, output: "All tests passed" } }],
      ["learning", { insight: "Learned to handle edge case X", expertiseFile: "expertise/developer.md" }],
      ["custom_event", { customField: "value" }],
    ]);
    expect(history.every((e) => typeof e.timestamp === "string")).toBe(true);
    expect(getSession(session.id)).toMatchObject({ iterations: 1, metadata: { toolsUsed: ["bash"] } });
  });

  it("Context and Resumption", async () => {
    const session = await startSession("Resumable work", "developer", { maxIterations: 30, context: { cursor: 7 } });
    await incrementIteration(session.id, { phase: "one" });
    await pauseSession(session.id, "later");

    let resumed = false;
    // Check if session can be resumed
    if (isSessionResumable(session.id)) {
      // Get accumulated context
      const context = getSessionContext(session.id)!;

      console.log(`Task: ${context.task}`);
      console.log(`Progress: ${context.iterations}/${context.maxIterations}`);
      console.log(`Recent history:`, context.recentHistory);

      // Resume execution with context
      await resumeSession(session.id);
      resumed = true;
    }

    expect(resumed).toBe(true);
    expect(output[0]).toEqual(["Task: Resumable work"]);
    expect(output[1]).toEqual(["Progress: 1/30"]);
    expect((output[2]![1] as { type: string }[]).map((e) => e.type)).toEqual(["start", "iteration", "pause"]);
    expect(getSession(session.id)!.status).toBe("active");
    expect(isSessionResumable(session.id)).toBe(false);
  });

  it("Session Queries", async () => {
    const a = await startSession("a", "developer", { userId: "user123" });
    const b = await startSession("b", "developer", { userId: "user123" });
    const c = await startSession("c", "reviewer", { userId: "user999" });
    await pauseSession(b.id);
    await completeSession(c.id, "ok");

    // Get active sessions for a user
    const active = getActiveSessions({ userId: "user123" });

    // Get all paused sessions
    const paused = getPausedSessions();

    // Get completed sessions in the last 24 hours
    const recent = getCompletedSessions({
      createdAfter: new Date(Date.now() - 86400000).toISOString(),
    });

    // Complex filtering
    const sessions = findSessions({
      userId: "user123",
      mode: "developer",
      status: ["active", "paused"],
      limit: 10,
    });

    // Get statistics
    const stats = getStats();
    console.log(`Total: ${stats.total}`);
    console.log(`Success rate: ${stats.successRate}%`);
    console.log(`Average iterations: ${stats.averageIterations}`);
    console.log(`By status:`, stats.byStatus);
    console.log(`By mode:`, stats.byMode);

    expect(active.map((s) => s.id)).toEqual([a.id]);
    expect(paused.map((s) => s.id)).toEqual([b.id]);
    expect(recent.map((s) => s.id)).toEqual([c.id]);
    expect(sessions.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(getFailedSessions()).toEqual([]);
    expect(output).toEqual([
      ["Total: 3"],
      ["Success rate: 100%"],
      ["Average iterations: 0"],
      ["By status:", { active: 1, paused: 1, completed: 1 }],
      ["By mode:", { developer: 2, reviewer: 1 }],
    ]);
  });

  it("Session Cleanup", async () => {
    const session = await startSession("old work", "developer");
    await completeSession(session.id, "done");
    const keep = await startSession("current work", "developer");

    // Clean up sessions older than 30 days
    const cleaned = cleanupSessions(30);
    console.log(`Cleaned ${cleaned} old sessions`);
    expect(cleaned).toBe(0);
    // Everything ended more than 0 days ago is old enough at 0.
    expect(cleanupSessions(0)).toBe(1);

    // Delete specific session
    removeSession(keep.id);

    expect(getSession(session.id)).toBeNull();
    expect(getSession(keep.id)).toBeNull();
    expect(output).toEqual([["Cleaned 0 old sessions"]]);
  });

  it("Webhook Notifications", async () => {
    // A receiver on this machine is a local address, which webhooks reach only when allowed.
    configureSessions({ home: home.home, config: { webhookAllowHosts: ["localhost"] } });
    // Configure webhook endpoint
    configureWebhook("http://localhost:3001/webhooks/sessions");

    const hooks = await sessionManager().listWebhooks();
    expect(hooks).toMatchObject([{ url: "http://localhost:3001/webhooks/sessions", events: [] }]);
    expect(() => configureWebhook("not a url")).toThrow(expect.objectContaining({ code: "validation", field: "url" }));
  });

  it("Integration with OpenHands Agent", async () => {
    const runOpenHandsAgent = async (options: { task: string; mode: string; sessionId: string; persist: boolean }) =>
      options.task.includes("fail")
        ? { success: false, error: "agent gave up", output: "" }
        : { success: true, output: `did ${options.task}`, error: undefined as string | undefined };

    async function runWithSession(task: string, mode: string) {
      const session = await startSession(task, mode, { maxIterations: 50 });

      try {
        await incrementIteration(session.id, { phase: "initialization" });

        const result = await runOpenHandsAgent({
          task,
          mode,
          sessionId: session.id,
          persist: true,
        });

        if (result.success) {
          await completeSession(session.id, result.output);
        } else {
          await failSession(session.id, result.error || "Failed");
        }

        return result;
      } catch (error) {
        await failSession(session.id, (error as Error).message);
        throw error;
      }
    }

    await runWithSession("build the modal", "developer");
    await runWithSession("fail on purpose", "developer");
    expect(getCompletedSessions().map((s) => s.result)).toEqual(["did build the modal"]);
    expect(getFailedSessions().map((s) => s.error)).toEqual(["agent gave up"]);
  });

  it("Lightweight Agent", async () => {
    const runLearningAgent = async (options: { prompt: string; mode: string; enableLearning: boolean }) => ({
      output: `answer to ${options.prompt}`,
      learned: { insight: "prefer small commits", expertiseFile: "expertise/git.md" },
    });

    async function runLightweightWithSession(prompt: string, mode: string) {
      const session = await startSession(prompt, mode);

      try {
        const result = await runLearningAgent({
          prompt,
          mode,
          enableLearning: true,
        });

        if (result.learned) {
          await recordLearning(session.id, result.learned.insight, result.learned.expertiseFile);
        }

        await completeSession(session.id, result.output);
        return result;
      } catch (error) {
        await failSession(session.id, (error as Error).message);
        throw error;
      }
    }

    await runLightweightWithSession("how to commit", "mentor");
    const [done] = getCompletedSessions();
    expect(done!.history.map((e) => e.type)).toEqual(["start", "learning", "complete"]);
  });

  it("Best practice 1: Set Appropriate Max Iterations", async () => {
    const task = "t";
    const mode = "developer";
    {
      // Quick tasks: 10-20 iterations
      const session = await startSession(task, mode, { maxIterations: 15 });
      expect(session.maxIterations).toBe(15);
    }
    {
      // Complex tasks: 50-100 iterations
      const session = await startSession(task, mode, { maxIterations: 75 });
      expect(session.maxIterations).toBe(75);
    }
    {
      // Very long tasks: 100-200 iterations
      const session = await startSession(task, mode, { maxIterations: 150 });
      expect(session.maxIterations).toBe(150);
    }
    // And without one, the configured default bounds the session.
    expect((await startSession(task, mode)).maxIterations).toBe(50);
  });

  it("Best practice 2: Track Progress Regularly", async () => {
    const session = await startSession("t", "developer");
    // Increment at meaningful milestones
    await incrementIteration(session.id, { phase: "analysis" });
    await incrementIteration(session.id, { phase: "implementation" });
    await incrementIteration(session.id, { phase: "testing" });
    expect(getSession(session.id)!.iterations).toBe(3);
  });

  it("Best practice 3: Preserve Context for Resumption", async () => {
    const session = await startSession("t", "developer", { context: { priority: "high" } });
    // Save important state in context
    await updateContext(session.id, {
      currentPhase: "implementation",
      completedSteps: ["analysis", "planning"],
      nextStep: "write_tests",
    });

    // Use context when resuming
    const context = getSessionContext(session.id)!;
    const nextStep = context.context.nextStep;

    expect(nextStep).toBe("write_tests");
    expect(context.context).toMatchObject({ priority: "high", currentPhase: "implementation" });
  });

  it("Best practice 4: Handle Timeouts Gracefully", async () => {
    const task = "long task";
    const mode = "developer";
    const session = await startSession(task, mode, { maxIterations: 50 });

    let worked = 0;
    for (let i = 0; i < session.maxIterations!; i++) {
      await incrementIteration(session.id);

      const current = getSession(session.id);
      if (current?.status === "timeout") {
        console.log("Max iterations reached, pausing for review");
        await pauseSession(session.id, "Max iterations reached");
        break;
      }

      // ... do work ...
      worked++;
    }

    expect(worked).toBe(49);
    expect(output).toEqual([["Max iterations reached, pausing for review"]]);
    expect(getSession(session.id)).toMatchObject({ status: "paused", iterations: 50 });
  });

  it("Best practice 5: Regular Cleanup (the job's body)", async () => {
    const job = () => {
      const cleaned = cleanupSessions(30); // 30 days
      console.log(`Cleaned ${cleaned} old sessions`);
    };
    job();
    expect(output).toEqual([["Cleaned 0 old sessions"]]);
  });

  it("Session-Aware Agent Wrapper", async () => {
    const agent = new SessionAwareAgent("user123", "channel456");

    // Execute with automatic session management
    const result = await agent.execute("Review code", "code_review");
    expect(result.output).toBe("done: Review code");

    const session = await startSession("Keep going", "code_review", { userId: "user123", channelId: "channel456" });
    // Get user's active sessions
    const sessions = agent.getActiveSessions();
    expect(sessions.map((s) => s.id)).toEqual([session.id]);

    // Pause and resume
    await agent.pause(session.id, "User requested pause");
    await agent.resume(session.id);
    expect(getSession(session.id)!.status).toBe("active");
  });

  it("Troubleshooting: Session Not Found, Cannot Pause/Resume, Session Corruption", async () => {
    const sessionId = "session_abc123_xyz";
    const session = getSession(sessionId);
    if (!session) {
      console.error(`Session ${sessionId} not found or was deleted`);
    }

    const done = await startSession("t", "developer");
    await completeSession(done.id);
    try {
      await pauseSession(done.id);
    } catch (error) {
      console.error(`Cannot pause: ${(error as Error).message}`);
      // Session might not be in "active" status
    }

    const corruptedSessionId = done.id;
    removeSession(corruptedSessionId);

    expect(output).toEqual([
      ["Session session_abc123_xyz not found or was deleted"],
      ["Cannot pause: cannot pause a session that is completed (to paused)"],
    ]);
    expect(getSession(corruptedSessionId)).toBeNull();
  });

  const seedFile = new URL("../../../shared/seeds/004_72d5f4f0843f54cf.txt", import.meta.url);
  it.skipIf(!existsSync(seedFile))("uses every function the seed imports in its examples", () => {
    const seed = readFileSync(seedFile, "utf8");
    const functions = [...seed.matchAll(/^\s{2}(\w+),$/gm)].map((m) => m[1]);
    const used = new Set(readFileSync(new URL(import.meta.url), "utf8").match(/\b\w+\(/g)!.map((s) => s.slice(0, -1)));
    const api = functions.filter((f) => !f!.startsWith("run"));
    expect(api.filter((f) => !used.has(f!))).toEqual([]);
  });
});
