/**
 * An agent loop on the HTTP SDK (`sessiond/client`), against a running server: start a session,
 * iterate, record tool calls without passing the session id (withSession + instrument),
 * checkpoint, complete. The client finds the server as the CLI does: $SESSIOND_HOME/sessiond.sock,
 * else http://127.0.0.1:$SESSIOND_PORT (default 8011) with the token in $SESSIOND_HOME/token.
 *
 *   sessiond serve &        # or let any `sessiond` client command start it
 *   npx tsx examples/sdk-agent-loop.ts
 */
import { createClient, instrument } from "sessiond/client";

const client = createClient();
const { startSession, incrementIteration, updateContext, addEvent, completeSession, failSession, getHistory } = client.seed004;

// The agent's tools. Called inside withSession, each call records a tool_call event with its
// arguments, its result (or error) and duration_ms; errors are rethrown unchanged.
const readFile = instrument(async (path: string) => `// contents of ${path}`, "read_file");
const runTests = instrument(async (suite: string) => ({ suite, passed: 12, failed: 0 }), "run_tests");

const session = await startSession("Implement feature X", "developer", { maxIterations: 10 });
console.log(`started ${session.name}`);
try {
  await client.withSession(session.id, async () => {
    for (const phase of ["analysis", "implementation", "testing"]) {
      await incrementIteration(session.id, { phase });
      await readFile(`src/${phase}.ts`);
      if (phase === "testing") await runTests("unit");
      await addEvent("note", { phase, text: `${phase} done` }); // no id: it comes from withSession
      await updateContext(session.id, { lastPhase: phase });
      await client.sessions.createCheckpoint(session.id, { label: phase, data: { completed: phase } });
    }
  });
  await completeSession(session.id, "Feature implemented");
} catch (err) {
  await failSession(session.id, err instanceof Error ? err.message : String(err));
  throw err;
} finally {
  const done = (await client.seed004.getSession(session.id))!;
  const history = await getHistory(session.id);
  const checkpoints = await client.sessions.listCheckpoints(session.id);
  console.log(`${done.status} after ${done.iterations} iterations: ${history.filter((e) => e.type === "tool_call").length} tool calls, ${checkpoints.length} checkpoints`);
  console.log(`context: ${JSON.stringify(done.context)}`);
  await client.close();
}
