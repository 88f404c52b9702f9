/**
 * One conversation turn in a process of its own: a real `Runner` of the OpenAI Agents SDK, the
 * RecordingModel, and a SessiondSession on the sessiond session the test names. Prints one line,
 * `RESULT {sessionId, inputs, finalOutput}`, and exits.
 *
 * argv[2]: JSON `{backend: "embedded", home} | {backend: "remote", baseUrl, token}`,
 * argv[3]: JSON SessiondSessionOptions without `sessiond` (`{session}` or `{create}`), argv[4]: the user's text.
 */
import { Agent, Runner } from "@openai/agents";
import { closeSessions, configureSessions, sessionManager } from "../../../src/index.js";
import { createClient } from "../../../src/sdk/client/index.js";
import { SessiondSession, type SessiondSessionOptions } from "../../../src/adapters/openai-agents/index.js";
import { RecordingModel, itemText } from "./recording-model.js";

type Where = { backend: "embedded"; home: string } | { backend: "remote"; baseUrl: string; token: string };

const where = JSON.parse(process.argv[2]!) as Where;
const options = JSON.parse(process.argv[3]!) as Omit<SessiondSessionOptions, "sessiond">;
const text = process.argv[4]!;

const client = where.backend === "remote" ? createClient({ baseUrl: where.baseUrl, token: where.token }) : undefined;
if (where.backend === "embedded") configureSessions({ home: where.home, config: { logLevel: "silent" } });
const session = new SessiondSession({ ...options, sessiond: client ?? sessionManager() });

const model = new RecordingModel();
const agent = new Agent({ name: "echo", instructions: "Answer briefly.", model });
const runner = new Runner({ tracingDisabled: true });
const result = await runner.run(agent, text, { session });

process.stdout.write(`RESULT ${JSON.stringify({ sessionId: await session.getSessionId(), inputs: model.inputs.map((input) => input.map(itemText)), finalOutput: result.finalOutput })}\n`);
await client?.close();
await closeSessions();
