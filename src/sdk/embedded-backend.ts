import type {
  Checkpoint,
  Config,
  CreateSessionInput,
  EventQuery,
  JsonObject,
  Page,
  PageRequest,
  Session,
  SessionEvent,
  SessionFilter,
  SessionStats,
  ToolCallOutcome,
} from "../core/index.js";
import type { SessionManager } from "../engine/index.js";
import type { WebhookRecord } from "../store/index.js";

/**
 * What seed 004's embedded functions run on: the engine, in the process that owns the data dir,
 * or the owner, from any other process on it (DESIGN.md §6: one owner per store). Writes return
 * promises that resolve once durable; reads are synchronous.
 */
export interface EmbeddedBackend {
  readonly config: Config;
  /** The engine, in the owner; undefined in a process that sends its writes to the owner. */
  readonly manager: SessionManager | undefined;

  create(input: CreateSessionInput): Promise<Session>;
  pause(ref: string, reason?: string): Promise<Session>;
  /** Paused → active; crashed → recovered. */
  resume(ref: string): Promise<Session>;
  complete(ref: string, result?: unknown): Promise<Session>;
  fail(ref: string, error: string): Promise<Session>;
  incrementIteration(ref: string, data: JsonObject): Promise<Session>;
  recordToolCall(ref: string, tool: string, args: unknown, result: unknown, outcome: ToolCallOutcome): Promise<SessionEvent>;
  appendEvent(ref: string, type: string, data: JsonObject): Promise<SessionEvent>;
  /** Merges (JSON Merge Patch) into the context. */
  mergeContext(ref: string, patch: JsonObject): Promise<Session>;
  /** Records a checkpoint of the session's state now, with the caller's label and data (and its workspace files, `with_files`). */
  createCheckpoint(ref: string, input: { label?: string | null; data?: JsonObject; with_files?: boolean }): Promise<Checkpoint>;

  /** @throws ambiguous_name */
  findSync(ref: string): Session | undefined;
  listSync(filter: SessionFilter, page: PageRequest): Page<Session>;
  listEventsSync(ref: string, query: EventQuery): SessionEvent[];
  statsSync(filter: SessionFilter): SessionStats;

  deleteSync(ref: string): boolean;
  cleanupSync(olderThanDays: number): number;
  /** Registers a webhook; the record comes back as stored (secret included, for the caller). */
  putWebhookSync(webhook: WebhookRecord): WebhookRecord;

  /** Whether it can still be used (a closed engine is reopened by the next call). */
  readonly isOpen: boolean;
  /** Finishes what was acknowledged (and, in the owner, its webhook deliveries, bounded) and lets go. */
  close(): Promise<void>;
  /** The same without waiting, for process exit: queued writes are committed, deliveries stay durable. */
  closeSync(): void;
}
