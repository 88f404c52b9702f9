import { HELPERS_DIR, installPrefix, packageDir } from "../sandbox/index.js";
import { fileURLToPath } from "node:url";
import type { Config, JsonObject, Session } from "../../core/index.js";
import type { SessionManager } from "../../engine/index.js";
import { errors } from "../../core/index.js";
import type { LiveProcess, SessionDriver, StartCheck, StartSpec } from "../driver.js";
import { type ModeOptions, isLoopbackUrl } from "../mode-options.js";
import { type CellLanguage, type HelperReply, PipeProcess } from "../interpreter/index.js";
import { type DriverLog, silentLog } from "../log.js";
import { type ChatMessage, messageFromEvent, turnMessages } from "./history.js";

/** What the llm driver reads and writes of its sessions: the conversation (events) and the totals (metadata). */
export type SessionRecords = Pick<SessionManager, "get" | "appendEvent" | "listEvents" | "update">;

/** The config the llm driver reads. */
export type LlmConfig = Pick<
  Config,
  | "llmBaseUrl"
  | "llmModel"
  | "llmApiKey"
  | "llmSystemPrompt"
  | "llmHistoryTokens"
  | "llmStream"
  | "llmMaxAttempts"
  | "llmBackoffBaseMs"
  | "llmBackoffMaxMs"
  | "llmRequestTimeoutMs"
  | "llmPrices"
>;

/** Options of the llm driver. */
export interface LlmDriverOptions {
  readonly config: LlmConfig;
  readonly records: SessionRecords;
  /** The node that runs the helper. @default process.execPath */
  readonly nodePath?: string;
  readonly log?: DriverLog;
}

/** The helper script, shipped beside this file (scripts/copy-assets.mjs copies it into dist/). */
const HELPER = fileURLToPath(new URL("./helper.mjs", import.meta.url));
const EVENTS_PAGE = 1000;

/** Per-session settings: the start's options, else the session's metadata, else the config. */
interface Conversation {
  readonly baseUrl: string;
  readonly model: string;
  readonly system: string;
  readonly stream: boolean;
}

/** Where to provide a key, for the message of an llm session that has none. */
const KEY_HINT =
  'give api_key when starting the session, or set config llmApiKey (env SESSIOND_LLM_API_KEY or OPENAI_API_KEY); api_key: "" starts it without a key, for an endpoint that takes none';

/** The operator's key and the endpoint it is for (config `llmApiKey`, `llmBaseUrl`). */
interface ConfiguredKey {
  readonly key: string | undefined;
  readonly baseUrl: string;
}

/**
 * The key an llm session sends: its start's (`api_key`, `secrets.api_key`), else config
 * `llmApiKey` — only to config `llmBaseUrl`: the operator's key never goes to an endpoint a
 * start names; `null` when the start said the endpoint takes none (`api_key: ""`) or the
 * endpoint is on loopback (a local server); `undefined` when it needs one and has none.
 */
function keyFor(baseUrl: string, options: Readonly<ModeOptions>, secrets: Readonly<Record<string, string>> | undefined, configured: ConfiguredKey): string | null | undefined {
  const operators = sameEndpoint(baseUrl, configured.baseUrl) ? configured.key : undefined;
  const key = secrets?.api_key ?? (options.api_key === "" ? null : operators);
  if (key !== undefined) return key;
  return isLoopbackUrl(baseUrl) ? null : undefined;
}

function sameEndpoint(a: string, b: string): boolean {
  const trimmed = (url: string) => url.replace(/\/+$/, "");
  return trimmed(a) === trimmed(b);
}

/** Token and cost totals kept in the session's metadata. */
interface Totals {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
  turns: number;
}

/**
 * One llm session's side of the helper protocol: builds each turn from the conversation (history
 * trimmed to `llmHistoryTokens`), and after a successful turn records the user's and the
 * assistant's messages as `message` events (tool calls included) and adds the usage and cost to
 * the session's metadata.
 */
class LlmLanguage implements CellLanguage {
  readonly kind = "llm" as const;
  private pendingUser: ChatMessage | undefined;
  private pendingDropped = 0;

  constructor(
    private readonly sessionId: string,
    private readonly conversation: Conversation,
    private readonly history: ChatMessage[],
    private readonly totals: Totals,
    private readonly options: LlmDriverOptions,
    private readonly log: DriverLog,
    /** The key to send (see keyFor): null for none; undefined when one is needed and missing. */
    private readonly apiKey: string | null | undefined,
  ) {}

  async prepare(input: string) {
    // A session recovered after a server restart lost the key its start gave (held in memory only).
    if (this.apiKey === undefined) return { error: `no API key for ${this.conversation.baseUrl}: ${KEY_HINT}\n` };
    const user = toolAnswer(input) ?? { role: "user", content: input };
    const { messages, dropped } = turnMessages(this.conversation.system, this.history, user, this.options.config.llmHistoryTokens);
    this.pendingUser = user;
    this.pendingDropped = dropped;
    const { config } = this.options;
    const key = this.apiKey;
    return {
      request: {
        url: `${this.conversation.baseUrl.replace(/\/+$/, "")}/chat/completions`,
        ...(key ? { key } : {}),
        body: {
          model: this.conversation.model,
          messages,
          stream: this.conversation.stream,
          ...(this.conversation.stream ? { stream_options: { include_usage: true } } : {}),
        },
        attempts: config.llmMaxAttempts,
        backoffBaseMs: config.llmBackoffBaseMs,
        backoffMaxMs: config.llmBackoffMaxMs,
        timeoutMs: config.llmRequestTimeoutMs,
      },
    };
  }

  finish(reply: HelperReply) {
    const user = this.pendingUser;
    this.pendingUser = undefined;
    if (!reply.ok || !user) return { stderr: `${typeof reply.error === "string" ? reply.error : "llm request failed"}\n` };
    const toolCalls = Array.isArray(reply.tool_calls) ? (reply.tool_calls as JsonObject[]) : undefined;
    const assistant: ChatMessage = { role: "assistant", content: typeof reply.content === "string" ? reply.content : "", ...(toolCalls ? { tool_calls: toolCalls } : {}) };
    this.history.push(user, assistant);
    const usage = (reply.usage ?? {}) as Record<string, unknown>;
    const model = typeof reply.model === "string" ? reply.model : this.conversation.model;
    this.addUsage(model, usage);
    // Started now, in this order, before the coordinator writes the exec event: the session's
    // writes are ordered, so the messages come just before their exec.
    const writes = [
      this.options.records.appendEvent(this.sessionId, "message", {
        role: user.role,
        content: user.content,
        ...(user.tool_call_id ? { tool_call_id: user.tool_call_id } : {}),
      }),
      this.options.records.appendEvent(this.sessionId, "message", {
        role: "assistant",
        content: assistant.content,
        model,
        ...(toolCalls ? { tool_calls: toolCalls } : {}),
        ...(Object.keys(usage).length ? { usage: usage as JsonObject } : {}),
        finish_reason: typeof reply.finish_reason === "string" ? reply.finish_reason : null,
        attempts: typeof reply.attempts === "number" ? reply.attempts : 1,
        ...(this.pendingDropped ? { history_dropped: this.pendingDropped } : {}),
      }),
      this.saveTotals(model),
    ];
    void Promise.all(writes).catch((err: unknown) => this.log.warn({ err, session: this.sessionId }, "could not record an llm turn"));
    return {};
  }

  mayChangeState(): boolean {
    return false;
  }

  private addUsage(model: string, usage: Record<string, unknown>): void {
    const prompt = numberOr(usage.prompt_tokens, 0);
    const completion = numberOr(usage.completion_tokens, 0);
    const price = this.options.config.llmPrices[model];
    this.totals.prompt_tokens += prompt;
    this.totals.completion_tokens += completion;
    this.totals.total_tokens += numberOr(usage.total_tokens, prompt + completion);
    if (price) this.totals.cost_usd = round((this.totals.cost_usd * 1e6 + prompt * price.input + completion * price.output) / 1e6);
    this.totals.turns++;
  }

  private async saveTotals(model: string): Promise<void> {
    const session = await this.options.records.get(this.sessionId);
    await this.options.records.update(this.sessionId, { metadata: { ...session.metadata, model, ...this.totals } });
  }
}

/**
 * Live LLM sessions: a conversation with any OpenAI-compatible chat completions endpoint. Each
 * session has a small node helper of its own (llm/helper.mjs) that makes the HTTP requests, with
 * retries and timeouts, and streams the reply on its stdout — so an llm session has the same
 * process, limits, interrupt, stream and crash handling as the others. The conversation lives in
 * the session (`message` events) and is reloaded on restart: recovery needs no replay.
 *
 * Per session, the start options `model` and `base_url` (else `metadata.model` and
 * `metadata.base_url`), and `metadata.system_prompt`, override the config. The API key comes
 * from the start (`api_key`, held in memory) or the config (or env), and goes to the helper in
 * the turn's request: it is never logged and never written into the session. A session without
 * one is refused at start (docs/interpreters.md#llm-keys) unless its endpoint is on loopback or
 * the start said it takes none (`api_key: ""`).
 */
export class LlmDriver implements SessionDriver {
  readonly kind = "llm" as const;
  readonly targets = ["local"] as const;
  readonly startOptions = ["model", "base_url", "api_key"] as const;
  private readonly nodePath: string;
  private readonly log: DriverLog;

  constructor(private readonly options: LlmDriverOptions) {
    this.nodePath = options.nodePath ?? process.execPath;
    this.log = options.log ?? silentLog;
  }

  /**
   * Refuses a session that would have no key for its endpoint, naming where to give one — at
   * once, instead of at its first turn after the request's retries.
   * @throws validation naming `api_key`
   */
  async checkStart(start: StartCheck): Promise<void> {
    const baseUrl = this.baseUrlOf(start.options, start.metadata);
    if (keyFor(baseUrl, start.options, start.secrets, this.configuredKey()) === undefined) {
      throw errors.validation("api_key", `an llm session needs an API key for ${baseUrl}: ${KEY_HINT}`);
    }
  }

  async start(spec: StartSpec): Promise<LiveProcess> {
    const session = await this.options.records.get(spec.sessionId);
    const history = await this.history(session.id);
    const options = spec.options ?? {};
    const conversation = this.conversation(session, options);
    const key = keyFor(conversation.baseUrl, options, spec.secrets, this.configuredKey());
    const language = new LlmLanguage(session.id, conversation, history, totalsOf(session), this.options, this.log, key);
    return PipeProcess.start(spec, {
      command: this.nodePath,
      args: [HELPER],
      language,
      log: this.log,
      readOnlyPaths: [HELPERS_DIR, packageDir("cockatiel"), ...installPrefix(this.nodePath)],
    });
  }

  private configuredKey(): ConfiguredKey {
    return { key: this.options.config.llmApiKey, baseUrl: this.options.config.llmBaseUrl };
  }

  private baseUrlOf(options: Readonly<ModeOptions>, meta: Readonly<Record<string, unknown>>): string {
    return options.base_url ?? (typeof meta.base_url === "string" && meta.base_url ? meta.base_url : this.options.config.llmBaseUrl);
  }

  private conversation(session: Session, options: Readonly<ModeOptions>): Conversation {
    const meta = session.metadata;
    const { config } = this.options;
    return {
      baseUrl: this.baseUrlOf(options, meta),
      // metadata.model is also where each turn records the model that answered: the start's option comes first.
      model: options.model ?? (typeof meta.model === "string" && meta.model ? meta.model : config.llmModel),
      system: typeof meta.system_prompt === "string" ? meta.system_prompt : config.llmSystemPrompt,
      stream: typeof meta.stream === "boolean" ? meta.stream : config.llmStream,
    };
  }

  /** Every `message` event of the session, oldest first. */
  private async history(sessionId: string): Promise<ChatMessage[]> {
    const messages: ChatMessage[] = [];
    let after = 0;
    for (;;) {
      const page = await this.options.records.listEvents(sessionId, { types: ["message"], after_seq: after, limit: EVENTS_PAGE });
      for (const event of page) {
        const message = messageFromEvent(event);
        if (message) messages.push(message);
      }
      if (page.length < EVENTS_PAGE) return messages;
      after = page[page.length - 1]!.seq;
    }
  }
}

/**
 * An exec whose input is a JSON tool answer, `{"role": "tool", "tool_call_id": "…", "content": "…"}`,
 * sends that message instead of a user message: how a client answers the assistant's tool call.
 */
function toolAnswer(input: string): ChatMessage | undefined {
  if (!input.startsWith("{") || !input.includes('"tool"')) return undefined;
  try {
    const value = JSON.parse(input) as Record<string, unknown>;
    if (value.role !== "tool" || typeof value.tool_call_id !== "string" || typeof value.content !== "string") return undefined;
    return { role: "tool", content: value.content, tool_call_id: value.tool_call_id };
  } catch {
    return undefined;
  }
}

function totalsOf(session: Session): Totals {
  const meta = session.metadata;
  return {
    prompt_tokens: numberOr(meta.prompt_tokens, 0),
    completion_tokens: numberOr(meta.completion_tokens, 0),
    total_tokens: numberOr(meta.total_tokens, 0),
    cost_usd: numberOr(meta.cost_usd, 0),
    turns: numberOr(meta.turns, 0),
  };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/** Cost to a millionth of a dollar, without float noise. */
function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
