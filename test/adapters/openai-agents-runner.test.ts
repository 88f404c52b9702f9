import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, Runner, UserError } from "@openai/agents";
import { afterEach, describe, expect, it } from "vitest";
import { SessiondSession } from "../../src/adapters/openai-agents/index.js";
import { RecordingModel } from "./openai-agents/fixtures/recording-model.js";
import { compiledCli, compiledFixture } from "../helpers/compiled-tree.js";
import { perTestChildren, runNode } from "../helpers/run-node.js";
import { serve } from "../sdk/support/served.js";
import { listenOnLoopback } from "../sdk/support/connect.js";
import { type TestServer, startServer } from "../server/harness.js";
import { connectClient } from "../sdk/support/connect.js";

/** A turn's program, compiled to plain JavaScript with the sources it imports (test/helpers/compiled-tree.ts). */
const TURN = compiledFixture("test/adapters/openai-agents/fixtures/turn.ts");

interface TurnResult {
  sessionId: string;
  /** What the model was sent, per call: each item's text. */
  inputs: string[][];
  finalOutput: string;
}

/** One Runner turn in a child process of its own (turn.ts), on the backend `where` names. */
async function turn(where: object, options: object, text: string): Promise<TurnResult> {
  const run = await runNode([TURN, JSON.stringify(where), JSON.stringify(options), text], { env: { OPENAI_AGENTS_DISABLE_TRACING: "1" } });
  const line = run.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (run.status !== 0 || !line) throw new Error(`the turn exited ${run.status}:\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(line.slice("RESULT ".length)) as TurnResult;
}

/** A real Runner of the OpenAI Agents SDK, two processes, one sessiond session: the second turn's model sees the first turn. */
describe("SessiondSession under the SDK's Runner, across processes", () => {
  const { dirs } = perTestChildren();
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const expectCarriedOver = (first: TurnResult, second: TurnResult) => {
    expect(first.inputs).toEqual([["my name is Ada"]]);
    expect(first.finalOutput).toBe("seen 1 items; last: my name is Ada");
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.inputs).toEqual([["my name is Ada", "seen 1 items; last: my name is Ada", "what is my name?"]]);
  };

  it("remote: two processes, each a client of one server, carry the conversation over", async () => {
    server = await startServer();
    const where = { backend: "remote", baseUrl: await listenOnLoopback(server), token: server.token };
    const first = await turn(where, { create: { agent_id: "chat", name: "ada" } }, "my name is Ada");
    const second = await turn(where, { session: "chat/ada" }, "what is my name?");
    expectCarriedOver(first, second);
    const items = await server.manager.listEvents(first.sessionId, { types: ["agent.item"] });
    expect(items.map((e) => (e.data.item as { role: string }).role)).toEqual(["user", "assistant", "user", "assistant"]);
  });

  it("embedded: two processes, each the owner of the data dir in turn, carry the conversation over; sessiond trace shows it", async () => {
    const home = mkdtempSync(join(tmpdir(), "sessiond-agents-"));
    dirs.push(home);
    const where = { backend: "embedded", home };
    const first = await turn(where, { create: { agent_id: "chat", name: "ada" } }, "my name is Ada");
    const second = await turn(where, { session: first.sessionId }, "what is my name?");
    expectCarriedOver(first, second);

    const served = await serve({}, home);
    try {
      const trace = await runNode([compiledCli(), "trace", "chat/ada"], { env: { SESSIOND_HOME: home, NO_COLOR: "1" } });
      expect(trace.status, trace.stderr).toBe(0);
      const items = trace.stdout.split("\n").filter((line) => / agent\.item /.test(line));
      expect(items).toHaveLength(4);
      expect(items[0]).toContain("my name is Ada");
      expect(items[3]).toContain("seen 3 items; last: what is my name?");
    } finally {
      await served.stop();
    }
  });

  it("a run on a session that does not exist rejects with the SDK's UserError before the model is called", async () => {
    server = await startServer();
    const client = await connectClient(server);
    try {
      const model = new RecordingModel();
      const session = new SessiondSession({ sessiond: client, session: "chat/nobody" });
      const run = new Runner({ tracingDisabled: true }).run(new Agent({ name: "echo", model }), "hello", { session });
      await expect(run).rejects.toBeInstanceOf(UserError);
      await expect(run).rejects.toThrow('sessiond has no session "chat/nobody"');
      expect(model.inputs).toEqual([]);
      expect((await server.manager.list()).items).toEqual([]);
    } finally {
      await client.close();
    }
  });
});
