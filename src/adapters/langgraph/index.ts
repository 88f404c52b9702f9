/**
 * `sessiond/langgraph`: a LangGraph.js checkpoint saver on sessiond (docs/adapters.md).
 * Needs @langchain/langgraph-checkpoint and @langchain/core, optional peers of sessiond:
 * importing this without them throws one error naming the packages to install.
 *
 * @example
 * import { SessiondSaver } from "sessiond/langgraph";
 * const graph = workflow.compile({ checkpointer: new SessiondSaver() });
 * await graph.invoke(input, { configurable: { thread_id: "support-42" } });
 */
import { loadWithPeers } from "./peer.js";

export type { SessiondSaverOptions } from "./saver.js";
export { threadSessionName } from "./thread-names.js";
export { CHECKPOINT_EVENT, WRITES_EVENT } from "./records.js";

const loaded = await loadWithPeers("sessiond/langgraph", ["@langchain/langgraph-checkpoint", "@langchain/core"], () => import("./saver.js"));

/** The saver class (see saver.ts): `new SessiondSaver(options?)`. */
export const SessiondSaver: typeof import("./saver.js").SessiondSaver = loaded.SessiondSaver;
export type SessiondSaver = import("./saver.js").SessiondSaver;
/** What getTuple and a thread's list() throw for a checkpoint event they cannot read. */
export const MalformedCheckpoint: typeof import("./saver.js").MalformedCheckpoint = loaded.MalformedCheckpoint;
export type MalformedCheckpoint = import("./saver.js").MalformedCheckpoint;
/** The `type` of the sessions threads are kept in. */
export const THREAD_SESSION_TYPE: string = loaded.THREAD_SESSION_TYPE;
