/**
 * The initializer `validate-checkpointer` (@langchain/langgraph-checkpoint-validation) runs the
 * official suite with: embedded (the data dir in LANGGRAPH_VALIDATION_HOME) or remote (a server
 * at LANGGRAPH_VALIDATION_URL with LANGGRAPH_VALIDATION_TOKEN), as LANGGRAPH_VALIDATION_MODE says.
 * Each checkpointer the suite creates gets an agent_id of its own, so its `list()` without a
 * thread_id sees only what it wrote, as a fresh database would; destroying it deletes its threads.
 */
import { closeSessions, configureSessions } from "../../../src/index.js";
import { type SessiondClient, createClient } from "../../../src/sdk/client/index.js";
import { SessiondSaver } from "../../../src/adapters/langgraph/index.js";

const mode = process.env.LANGGRAPH_VALIDATION_MODE;
if (mode !== "embedded" && mode !== "remote") throw new Error("LANGGRAPH_VALIDATION_MODE must be embedded or remote");

let client: SessiondClient | undefined;
let created = 0;

export default {
  checkpointerName: `sessiond (${mode})`,
  beforeAll() {
    if (mode === "embedded") configureSessions({ home: required("LANGGRAPH_VALIDATION_HOME") });
    else client = createClient({ baseUrl: required("LANGGRAPH_VALIDATION_URL"), token: required("LANGGRAPH_VALIDATION_TOKEN") });
  },
  async afterAll() {
    if (client) await client.close();
    else await closeSessions();
  },
  createCheckpointer(): SessiondSaver {
    const agentId = `validation-${process.pid}-${++created}`;
    return new SessiondSaver({ agentId, ...(client ? { client } : {}) });
  },
  async destroyCheckpointer(saver: SessiondSaver) {
    const threads = [];
    for await (const tuple of saver.list({})) threads.push(tuple.config.configurable?.thread_id as string);
    for (const thread of new Set(threads)) await saver.deleteThread(thread);
  },
};

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
