/**
 * A short agent loop on the embedded API (seed 004's functions): start a session, iterate,
 * record tool calls, save context, checkpoint, complete — then read it all back.
 * Run it with `npm run demo`; it writes to SESSIOND_HOME (default ~/.sessiond).
 */
import {
  closeSessions,
  completeSession,
  createCheckpoint,
  getSession,
  getSessionContext,
  getStats,
  incrementIteration,
  recordToolCall,
  startSession,
  updateContext,
} from "sessiond";

const session = await startSession("Implement feature X", "developer", { userId: "ada", maxIterations: 10 });
console.log(`started ${session.name} (${session.id})`);

for (const phase of ["analysis", "implementation", "testing"]) {
  await incrementIteration(session.id, { phase });
  await recordToolCall(session.id, "bash", { command: `run ${phase}` }, { exitCode: 0 });
  await updateContext(session.id, { lastPhase: phase });
}
await createCheckpoint(session.id, { label: "tested", data: { next: "ship" } });
await completeSession(session.id, "Feature implemented");

const done = getSession(session.id)!;
console.log(`${done.status} after ${done.iterations} iterations, ${done.history.length} events`);
console.log(`context: ${JSON.stringify(getSessionContext(session.id)!.context)}`);
console.log(`all sessions: ${getStats().total}, success rate ${getStats().successRate}%`);
await closeSessions();
