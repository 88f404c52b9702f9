/**
 * `sessiond/client`: the typed HTTP SDK. Loads nothing of the server, engine or store.
 *
 * @example
 * import { createClient } from "sessiond/client";
 * const client = createClient(); // $SESSIOND_HOME/sessiond.sock, else http://127.0.0.1:8011 + token
 * await client.init();
 * const s = await client.sessions.createSession({ agent_id: "a1", task: "fix the build" });
 * await client.close();
 */
import { SeedSessionClient } from "./session-client.js";
import { SessionsClient } from "./sessions-client.js";
import { type ClientOptions, Transport } from "./transport.js";

export { ERROR_CODES, type ErrorCode, SessiondError, isSessiondError } from "../../core/errors.js";
export type { Checkpoint, SessionEvent, SessionState } from "../../core/events.js";
export type { CreateSessionInput, JsonObject, Page, PageRequest, Session, SessionFilter, SessionStats, SessionStatus, UpdateSessionInput } from "../../core/session.js";
export { type WireError, errorFromWire, isErrorCode } from "./errors.js";
export { type ISessionClient, SeedSessionClient, type SessionMetadata } from "./session-client.js";
export { type EventListOptions, type ExecuteResult, type NewSession, type Recovery, type SessionMetrics, type SessionPatch, SessionsClient, type StateAt, type WriteOptions } from "./sessions-client.js";
export { type ClientOptions, type Target, Transport, resolveTarget } from "./transport.js";

/** Seed 001's ISessionClient at the top, every API call under `sessions`, and `close()`. */
export class SessiondClient extends SeedSessionClient {
  constructor(options: ClientOptions = {}) {
    const transport = new Transport(options);
    super(transport, new SessionsClient(transport));
  }

  /** Where requests go: `unix:<path>` or the base URL. */
  get target(): string {
    return this.transport.where;
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.transport.close();
  }
}

/** A client for a sessiond server; see {@link ClientOptions} for how the server is found. */
export function createClient(options: ClientOptions = {}): SessiondClient {
  return new SessiondClient(options);
}
