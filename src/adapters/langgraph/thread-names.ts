import { createHash } from "node:crypto";
import { isValidName } from "../../core/index.js";

/** What a session name made from a thread id starts with when the id cannot be the name itself. */
const PREFIX = "thread-";

/**
 * The session name of a LangGraph thread, one to one: the thread id itself when it is a valid
 * session name (`1`, `support-chat-42`); `thread-<id>` when it is not because it looks like a UUID
 * (names never do, so that "id or name" lookups are never ambiguous) or starts with `thread-`;
 * otherwise — too long, or characters a name cannot hold — `thread-h-` and 40 hex digits of its
 * SHA-256. The thread id itself is kept in the session's `metadata.langgraph.thread_id`.
 *
 * @example
 * threadSessionName("support-chat-42")                      // "support-chat-42"
 * threadSessionName("1ef4f797-8335-6428-8001-8a1503f9b875") // "thread-1ef4f797-8335-6428-8001-8a1503f9b875"
 */
export function threadSessionName(threadId: string): string {
  if (isValidName(threadId) && !threadId.startsWith(PREFIX)) return threadId;
  const prefixed = `${PREFIX}${threadId}`;
  if (isValidName(prefixed)) return prefixed;
  return `${PREFIX}h-${createHash("sha256").update(threadId).digest("hex").slice(0, 40)}`;
}
