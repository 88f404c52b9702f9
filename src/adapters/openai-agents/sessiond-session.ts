import type { AgentInputItem, Session } from "@openai/agents-core";
import { isSessiondError } from "../../core/errors.js";
import type { CreateSessionInput } from "../../core/session.js";
import { CLEARED_EVENT, type ClearMark, ITEM_EVENT, POPPED_EVENT, isLive, readItems } from "./history.js";
import { encodeItem } from "./item-codec.js";
import { agentsCore } from "./peer.js";
import { type SessiondBackend, type Timeline, timelineOf } from "./timeline.js";

/** The fields a session created for a conversation may be given (`POST /sessions/`'s, less what only an import or a live session sets). */
export type ConversationSessionFields = Omit<CreateSessionInput, "id" | "kind" | "checkpoint">;

/** Options of {@link SessiondSession}. */
export interface SessiondSessionOptions {
  /** Where the sessions are: `sessionManager()` from `sessiond` (embedded), or `createClient()` from `sessiond/client`. */
  sessiond: SessiondBackend;
  /**
   * An existing session to hold the conversation: its id, name or `agent_id/name`. When it does not
   * exist (or the client's token may not see it), every method rejects with the SDK's `UserError`,
   * its `cause` sessiond's `not_found`. Leave it out to create a session on first use.
   */
  session?: string;
  /**
   * The session to create on first use when `session` is left out: its agent, name, task, labels…
   * When one by that name exists already (a second run of the same program), it is opened instead,
   * if it holds a conversation (its type is `conversation`).
   * @default `{ type: "conversation", labels: { framework: "openai-agents" } }`, merged under what you give
   */
  create?: ConversationSessionFields;
}

/**
 * The OpenAI Agents SDK's `Session` (conversation memory) on a sessiond session: each item is an
 * `agent.item` event on the session's timeline, so the conversation shows in `sessiond trace`,
 * survives the process, and can be checkpointed, restored and forked like any session. `popItem`
 * and `clearSession` append `agent.item_popped` and `agent.items_cleared` (history is never
 * rewritten), and reads honour them.
 *
 * @example
 * import { Agent, run } from "@openai/agents";
 * import { createClient } from "sessiond/client";
 * import { SessiondSession } from "sessiond/openai-agents";
 *
 * const session = new SessiondSession({ sessiond: createClient(), create: { agent_id: "support", name: "ticket-42" } });
 * await run(agent, "Where is my order?", { session });
 * // Later, in another process: new SessiondSession({ sessiond: createClient(), session: "support/ticket-42" })
 */
export class SessiondSession implements Session {
  readonly #timeline: Timeline;
  readonly #ref: string | undefined;
  readonly #create: CreateSessionInput;
  #id: Promise<string> | undefined;
  /** The newest clear known (from the context, or met by a read): reads stop there without fetching what lies under it. */
  #lastClear: ClearMark | undefined;
  /** This object's operations, one at a time: a batch of items lands together and pops do not race each other here. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: SessiondSessionOptions) {
    if (options === null || typeof options !== "object") throw new agentsCore.UserError("SessiondSession needs options: { sessiond, session?, create? }");
    if (options.session !== undefined && (typeof options.session !== "string" || options.session === "")) {
      throw new agentsCore.UserError("SessiondSession: `session` must be a session's id, name or agent_id/name");
    }
    if (options.session !== undefined && options.create !== undefined) {
      throw new agentsCore.UserError("SessiondSession: give `session` (an existing one) or `create` (a new one), not both");
    }
    this.#timeline = timelineOf(options.sessiond);
    this.#ref = options.session;
    this.#create = { type: "conversation", ...options.create, labels: { framework: "openai-agents", ...options.create?.labels } };
  }

  /** The sessiond session's id (a UUID v7), creating the session on first use when none was named. */
  getSessionId(): Promise<string> {
    this.#id ??= this.#resolve().catch((err: unknown) => {
      this.#id = undefined; // A server that was down may be up next time.
      throw err;
    });
    return this.#id;
  }

  /** The newest `limit` items (all when undefined), oldest first. */
  async getItems(limit?: number): Promise<AgentInputItem[]> {
    if (limit !== undefined && !Number.isInteger(limit)) throw new agentsCore.UserError(`getItems: limit must be an integer, not ${String(limit)}`);
    return this.#exclusive(async (id) => (await readItems(this.#timeline, id, limit, this.#clears())).map((s) => s.item));
  }

  /**
   * Appends the items, one event each, in order. Every item is checked against the SDK's own
   * protocol schema first, so a wrong one writes nothing; should the store refuse one (over
   * `maxEventBytes`), those of the batch already written are popped again before the error is thrown.
   */
  async addItems(items: AgentInputItem[]): Promise<void> {
    if (!Array.isArray(items)) throw new agentsCore.UserError("addItems: expected an array of items");
    const encoded = items.map((item, i) => {
      const parsed = agentsCore.protocol.ModelItem.safeParse(item);
      if (!parsed.success) throw new agentsCore.UserError(`addItems: item ${i} is not an AgentInputItem (${describeIssue(parsed.error.issues)})`);
      try {
        return encodeItem(item);
      } catch (err) {
        throw new agentsCore.UserError(`addItems: item ${i} cannot be stored: ${(err as Error).message}`);
      }
    });
    if (!encoded.length) return;
    await this.#exclusive(async (id) => {
      const written: number[] = [];
      try {
        for (const data of encoded) written.push((await this.#timeline.append(id, ITEM_EVENT, data)).seq);
      } catch (err) {
        await this.#withdraw(id, written, err);
        throw err;
      }
    });
  }

  /** Removes the newest item and returns it; undefined when there is none. */
  popItem(): Promise<AgentInputItem | undefined> {
    return this.#exclusive(async (id) => {
      for (;;) {
        const [newest] = await readItems(this.#timeline, id, 1, this.#clears());
        if (!newest) return undefined;
        const marker = await this.#timeline.append(id, POPPED_EVENT, { session_id: newest.sessionId, seq: newest.seq });
        // Another process may have popped the same item between the read and the append: the first
        // pop of it removed it; a later one pops the next item instead.
        if (await isLive(this.#timeline, id, newest, marker.seq - 1)) return newest.item;
      }
    });
  }

  /**
   * Drops every item (one `agent.items_cleared` event); the session, its id and its timeline stay.
   * The clear's place is also kept in the context (`openai_agents.last_clear`), so that a process
   * opening the session later reads nothing under it either.
   */
  clearSession(): Promise<void> {
    return this.#exclusive(async (id) => {
      const { seq } = await this.#timeline.append(id, CLEARED_EVENT, {});
      this.#lastClear = { sessionId: id, seq };
      await this.#timeline.mergeContext(id, { [CONTEXT_KEY]: { last_clear: { session_id: id, seq } } });
    });
  }

  #clears() {
    return { lastClear: this.#lastClear, onClear: (mark: ClearMark) => (this.#lastClear = mark) };
  }

  async #resolve(): Promise<string> {
    if (this.#ref === undefined) return this.#createOrOpen();
    try {
      const session = await this.#timeline.session(this.#ref);
      this.#lastClear = clearMarkIn(session.context);
      return session.id;
    } catch (err) {
      if (!isSessiondError(err, "not_found")) throw err;
      const missing = new agentsCore.UserError(`sessiond has no session ${JSON.stringify(this.#ref)} (or this client may not see it): name an existing one, or leave \`session\` out to create one`);
      throw Object.assign(missing, { cause: err });
    }
  }

  /** Creates the session; when its name is taken, opens the conversation already there. */
  async #createOrOpen(): Promise<string> {
    try {
      return (await this.#timeline.create(this.#create)).id;
    } catch (err) {
      const { name, agent_id: agentId } = this.#create;
      if (!isSessiondError(err, "conflict") || name === undefined) throw err;
      const existing = await this.#timeline.session(agentId === undefined ? name : `${agentId}/${name}`);
      if (existing.type !== "conversation") {
        throw Object.assign(new agentsCore.UserError(`sessiond: a session named ${JSON.stringify(name)} exists and is not a conversation (its type is ${JSON.stringify(existing.type)}): give another name`), { cause: err });
      }
      this.#lastClear = clearMarkIn(existing.context);
      return existing.id;
    }
  }

  #exclusive<T>(op: (sessionId: string) => Promise<T>): Promise<T> {
    const run = this.#tail.then(async () => op(await this.getSessionId()));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** A batch the store refused part of: pop what it took, newest first, so no half of it stays. */
  async #withdraw(id: string, written: readonly number[], refusal: unknown): Promise<void> {
    try {
      for (const seq of [...written].reverse()) await this.#timeline.append(id, POPPED_EVENT, { session_id: id, seq });
    } catch (err) {
      throw new AggregateError([refusal, err], `addItems: sessiond refused an item, and popping the ${written.length} written before it failed too`);
    }
  }
}

/** The context key this adapter keeps its own state under. */
const CONTEXT_KEY = "openai_agents";

/** The clear the context names (a fork's and a restored session's context name one of their history), when well formed. */
function clearMarkIn(context: Record<string, unknown>): ClearMark | undefined {
  const mark = (context[CONTEXT_KEY] as { last_clear?: { session_id?: unknown; seq?: unknown } } | undefined)?.last_clear;
  return typeof mark?.session_id === "string" && Number.isSafeInteger(mark.seq) && (mark.seq as number) > 0 ? { sessionId: mark.session_id, seq: mark.seq as number } : undefined;
}

function describeIssue(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const issue = issues[0];
  if (!issue) return "refused by the SDK's protocol.ModelItem";
  return `${issue.path.length ? `${issue.path.map(String).join(".")}: ` : ""}${issue.message}, by the SDK's protocol.ModelItem`;
}
