import { isSessiondError } from "../../core/errors.js";
import type { Session } from "../../core/session.js";
import type { ExecuteResult, SessionsClient } from "./sessions-client.js";
import type { Transport } from "./transport.js";

/** Seed 001's session metadata: sessiond's session record. */
export type SessionMetadata = Session;

export type { ExecuteResult };

/** Seed 001's client contract (JOB-019 `ISessionClient`). */
export interface ISessionClient {
  init(): Promise<void>;
  executeCommand(session: string, command: string): Promise<ExecuteResult>;
  listSessions(): Promise<SessionMetadata[]>;
  getSession(name: string): Promise<SessionMetadata | null>;
  forceSave(session: string): Promise<void>;
}

/** Seed 001's ISessionClient over the HTTP API. */
export class SeedSessionClient implements ISessionClient {
  constructor(
    protected readonly transport: Transport,
    /** Every session route as a typed method. */
    readonly sessions: SessionsClient,
  ) {}

  /** Checks that the server answers (`GET /healthz`). @throws SessiondError when it does not */
  async init(): Promise<void> {
    await this.transport.request({ method: "GET", path: "/healthz" });
  }

  /** Runs `command` in the live session (`POST /sessions/{id}/exec`); queued behind a running one. */
  async executeCommand(session: string, command: string): Promise<ExecuteResult> {
    return this.sessions.exec(session, command);
  }

  /** Every session the caller may see, newest first, following the list's cursors. */
  async listSessions(): Promise<SessionMetadata[]> {
    const all: Session[] = [];
    for await (const session of this.sessions.iterateSessions()) all.push(session);
    return all;
  }

  /** The session with this name or id, or null when there is none. */
  async getSession(name: string): Promise<SessionMetadata | null> {
    try {
      return await this.sessions.getSession(name);
    } catch (err) {
      if (isSessiondError(err, "not_found")) return null;
      throw err;
    }
  }

  /**
   * Nothing to do: sessiond answers a write only once it is durable, so there is never unsaved
   * state to flush. Resolves after checking the session exists. @throws not_found
   */
  async forceSave(session: string): Promise<void> {
    await this.sessions.getSession(session);
  }
}
