/**
 * sessiond/openai-agents: the OpenAI Agents SDK's `Session` (conversation memory) on a sessiond
 * session, embedded or through a server. Needs the optional peer `@openai/agents-core` (installed
 * with `@openai/agents`); without it, importing this module throws one error naming it.
 *
 * @example
 * import { Agent, run } from "@openai/agents";
 * import { sessionManager } from "sessiond";
 * import { SessiondSession } from "sessiond/openai-agents";
 *
 * const session = new SessiondSession({ sessiond: sessionManager(), create: { agent_id: "support" } });
 * await run(new Agent({ name: "support", instructions: "Be brief." }), "Hello", { session });
 */
export { type ConversationSessionFields, SessiondSession, type SessiondSessionOptions } from "./sessiond-session.js";
export { CLEARED_EVENT, ITEM_EVENT, POPPED_EVENT } from "./history.js";
export type { SessiondBackend, Timeline } from "./timeline.js";
