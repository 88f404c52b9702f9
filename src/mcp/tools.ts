import { SessiondError } from "../core/errors.js";
import { type JsonSchema, type OpenApiDocument, type Operation, readOperation } from "./operation-schemas.js";
import { type RouteAnswer, type RouteCall, type RouteCaller, headerOf, pathSegment, wireError } from "./route-caller.js";

/**
 * The MCP tools over an agent's sessions. Each tool is one route of the server's REST API: its
 * input schema is the route's parameters and body from the server's OpenAPI document, its call
 * is a request to that route, and its result is the route's JSON (structured content) with a
 * short text. Validation, scoping and errors are the route's own (docs/adapters.md#mcp).
 */

/** MCP's hints about a tool (ToolAnnotations in the MCP schema). */
export interface ToolAnnotations {
  readonly title?: string;
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
}

/** A tool as `tools/list` describes it. */
export interface ToolDefinition {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly inputSchema: JsonSchema & { type: "object" };
  readonly outputSchema: JsonSchema & { type: "object" };
  readonly annotations: ToolAnnotations;
}

/** A tool's answer (CallToolResult in the MCP schema). */
export interface ToolResult {
  [key: string]: unknown;
  content: { type: "text"; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

interface ToolSpec {
  readonly name: string;
  readonly operationId: string;
  readonly title: string;
  /** What the tool is for, before the route's own summary and description. */
  readonly intro: string;
  readonly annotations: Omit<ToolAnnotations, "title">;
  /** The member an array answer is wrapped in (structured content is an object). */
  readonly listKey?: string;
  /** The one-line text beside the structured content. */
  readonly summarize: (body: Record<string, unknown>, args: Record<string, unknown>) => string;
}

const SPECS: readonly ToolSpec[] = [
  {
    name: "sessions_start",
    operationId: "createSession",
    title: "Start a session",
    intro:
      "Start a session: a tracked agent session (kind agent, the default) recording a run's context, events and checkpoints; or, where the server enables live sessions, " +
      "a live shell, python or typescript session whose process keeps its state between sessions_exec calls.",
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    summarize: (s) => `started ${describeSession(s)}`,
  },
  {
    name: "sessions_list",
    operationId: "listSessions",
    title: "List sessions",
    intro:
      "List the sessions this token may see, newest first unless sort and order say otherwise; q finds sessions by text in their name or task. " +
      "Pass next_cursor back as cursor, with the same sort and order, for the next page.",
    annotations: { readOnlyHint: true, openWorldHint: false },
    listKey: "sessions",
    summarize: (page) => {
      const sessions = page.sessions as Record<string, unknown>[];
      const lines = sessions.map((s) => `- ${describeSession(s)}`);
      const next = typeof page.next_cursor === "string" ? `\nmore: cursor ${page.next_cursor}` : "";
      return `${sessions.length} session${sessions.length === 1 ? "" : "s"}${lines.length ? `:\n${lines.join("\n")}` : ""}${next}`;
    },
  },
  {
    name: "sessions_show",
    operationId: "getSession",
    title: "Show a session",
    intro: "Show one session: status, context, iterations, last checkpoint, metadata.",
    annotations: { readOnlyHint: true, openWorldHint: false },
    summarize: (s) => `${describeSession(s)}, iteration ${s.iterations}, ${s.last_seq} events, version ${s.version}`,
  },
  {
    name: "sessions_exec",
    operationId: "exec",
    title: "Run code in a live session",
    intro: "Run a command (shell) or a cell (python, typescript) in a live session; its variables, cwd and environment persist between calls.",
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    summarize: (r) => {
      if (r.stdout === undefined) return `exec ${r.exec_id} is ${r.state}`;
      const out = [r.stdout, r.stderr].filter((t): t is string => typeof t === "string" && t.length > 0).join("\n");
      const exit = r.exit_code === null || r.exit_code === undefined ? "" : ` (exit ${r.exit_code})`;
      return `${out}${out.endsWith("\n") || out === "" ? "" : "\n"}[exec ${r.status}${exit}${r.truncated === true ? ", output truncated" : ""}]`;
    },
  },
  {
    name: "sessions_checkpoint",
    operationId: "createCheckpoint",
    title: "Checkpoint a session",
    intro: "Record a checkpoint of the session's context, status and iterations now, to restore or fork from later.",
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    summarize: (c) => `checkpoint ${describeCheckpoint(c)}`,
  },
  {
    name: "sessions_checkpoints",
    operationId: "listCheckpoints",
    title: "List a session's checkpoints",
    intro: "List a session's checkpoints, oldest first: their ids are what sessions_restore and sessions_fork take.",
    annotations: { readOnlyHint: true, openWorldHint: false },
    listKey: "checkpoints",
    summarize: (page) => {
      const checkpoints = page.checkpoints as Record<string, unknown>[];
      return `${checkpoints.length} checkpoint${checkpoints.length === 1 ? "" : "s"}${checkpoints.map((c) => `\n- ${describeCheckpoint(c)}`).join("")}`;
    },
  },
  {
    name: "sessions_restore",
    operationId: "restore",
    title: "Restore a checkpoint",
    intro: "Rewind the session's context and iterations to a checkpoint; the history is kept (a restore event is appended).",
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    summarize: (s, args) => `restored ${describeSession(s)} to checkpoint ${args.cid}`,
  },
  {
    name: "sessions_fork",
    operationId: "fork",
    title: "Fork from a checkpoint",
    intro: "Start a new session from a checkpoint of this one (time travel): the fork has the checkpoint's context and iterations, and parent names the source.",
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    summarize: (s, args) => `forked ${describeSession(s)} from ${args.id} at checkpoint ${args.cid}`,
  },
  {
    name: "sessions_append_event",
    operationId: "appendEvent",
    title: "Append an event",
    intro: "Append an event of your own type (note, decision, observation…) with JSON data to the session's timeline.",
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    summarize: (e) => `event #${e.seq} (${e.type}) appended`,
  },
];

function describeSession(s: Record<string, unknown>): string {
  const name = typeof s.name === "string" && s.name !== s.id ? ` "${s.name}"` : "";
  return `session ${s.id}${name} (${s.kind}, ${s.status})`;
}

function describeCheckpoint(c: Record<string, unknown>): string {
  return `${c.id}${c.label ? ` "${c.label}"` : ""} at seq ${c.seq}`;
}

interface Tool {
  readonly spec: ToolSpec;
  readonly operation: Operation;
  readonly definition: ToolDefinition;
}

/**
 * The tools, built once from the server's OpenAPI document.
 * @throws Error when the document lacks a route a tool calls (a server older than this client)
 */
export class ToolCatalog {
  private readonly tools: ReadonlyMap<string, Tool>;

  constructor(document: OpenApiDocument) {
    this.tools = new Map(
      SPECS.map((spec) => {
        const operation = readOperation(document, spec.operationId);
        return [spec.name, { spec, operation, definition: definitionOf(spec, operation) }];
      }),
    );
  }

  /** Every tool, as `tools/list` answers. */
  get definitions(): ToolDefinition[] {
    return [...this.tools.values()].map((t) => t.definition);
  }

  /** Whether a tool of this name exists. */
  has(name: string): boolean {
    return this.tools.has(name);
  }

  /**
   * Calls the tool's route. A route error, and arguments the tool cannot send, are results with
   * `isError: true` carrying the server's error code and message (MCP's tool execution errors,
   * which a model reads and corrects); only an unknown tool is the caller's to refuse.
   * @throws Error for an unknown tool; whatever the caller throws when the server is unreachable
   */
  async call(name: string, args: Record<string, unknown>, caller: RouteCaller): Promise<ToolResult> {
    const tool = this.tools.get(name);
    if (!tool) throw new Error(`unknown tool ${name}`);
    const request = requestFor(tool, args);
    if (request instanceof SessiondError) return errorResult(request.toJSON().error);
    const answer = await caller.call(request);
    const error = wireError(answer);
    if (error) return errorResult(error);
    const structured = structuredOf(tool.spec, answer);
    return {
      content: [
        { type: "text", text: tool.spec.summarize(structured, args) },
        { type: "text", text: JSON.stringify(structured) },
      ],
      structuredContent: structured,
    };
  }
}

function definitionOf(spec: ToolSpec, operation: Operation): ToolDefinition {
  const routeText = [operation.summary, operation.description].filter((t) => t.length > 0).join(": ");
  return {
    name: spec.name,
    title: spec.title,
    description: `${spec.intro}\n\nRoute: ${operation.method} ${operation.path} (${operation.operationId}). ${routeText}`,
    inputSchema: operation.inputSchema,
    outputSchema: outputSchemaOf(spec, operation),
    annotations: { title: spec.title, ...spec.annotations },
  };
}

/** The answer's schema as an MCP output schema, whose root is an object: a list is wrapped in `listKey`. */
function outputSchemaOf(spec: ToolSpec, operation: Operation): JsonSchema & { type: "object" } {
  const answers = [...operation.answers.values()];
  if (spec.listKey !== undefined) {
    const list = answers[0];
    if (answers.length !== 1 || list?.type !== "array") throw new Error(`operation ${operation.operationId} does not answer one array`);
    return {
      type: "object",
      properties: { [spec.listKey]: list, next_cursor: { anyOf: [{ type: "string" }, { type: "null" }], description: "the cursor of the next page; null on the last" } },
      required: [spec.listKey, "next_cursor"],
    };
  }
  if (answers.length === 0 || answers.some((a) => a.type !== "object")) throw new Error(`operation ${operation.operationId} does not answer JSON objects`);
  return answers.length === 1 ? (answers[0] as JsonSchema & { type: "object" }) : { type: "object", anyOf: answers };
}

/**
 * The request a tool call makes: path parameters encoded into the path, query parameters into
 * the query string, the rest into the JSON body — which the route validates, naming any member
 * it refuses. What cannot be put in a URL (a path parameter that is no string, an argument the
 * tool does not take) is refused here with the server's `validation` error.
 */
function requestFor(tool: Tool, args: Record<string, unknown>): RouteCall | SessiondError {
  const { operation } = tool;
  const query = new URLSearchParams();
  const body: Record<string, unknown> = {};
  let hasBody = false;
  const pathValues = new Map<string, string>();
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const place = operation.places.get(name);
    if (place === undefined) return invalid(name, `not an argument of ${tool.spec.name} (it takes ${[...operation.places.keys()].join(", ")})`);
    if (place === "path") {
      if (typeof value !== "string" || value.length === 0) return invalid(name, "expected a non-empty string");
      const segment = pathSegment(value);
      if (segment === undefined) return invalid(name, "not a session or checkpoint reference");
      pathValues.set(name, segment);
    } else if (place === "query") {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") return invalid(name, "expected a string, number or boolean, or a list of them");
        query.append(name, String(item));
      }
    } else {
      body[name] = value;
      hasBody = true;
    }
  }
  let missing: string | undefined;
  const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = pathValues.get(name);
    if (value === undefined) missing ??= name;
    return value ?? "";
  });
  if (missing !== undefined) return invalid(missing, "required");
  const search = query.toString();
  const runsForMs = typeof body.timeout_ms === "number" ? body.timeout_ms : undefined;
  return {
    method: operation.method,
    url: search ? `${path}?${search}` : path,
    // Every POST route of a tool reads a JSON body, an empty one included.
    ...(operation.method === "POST" ? { body: hasBody ? body : {} } : {}),
    ...(runsForMs !== undefined ? { timeoutMs: runsForMs } : {}),
  };
}

function invalid(field: string, reason: string): SessiondError {
  return new SessiondError("validation", { field, reason }, { field });
}

function structuredOf(spec: ToolSpec, answer: RouteAnswer): Record<string, unknown> {
  if (spec.listKey === undefined) return answer.body as Record<string, unknown>;
  return { [spec.listKey]: answer.body, next_cursor: headerOf(answer, "x-next-cursor") ?? null };
}

/** A tool execution error: the server's error code, message and field, in words and as its wire JSON. */
function errorResult(error: { code: string; message: string; field?: string }): ToolResult {
  return {
    content: [
      { type: "text", text: `${error.code}: ${error.message}${error.field ? ` (field ${error.field})` : ""}` },
      { type: "text", text: JSON.stringify({ error }) },
    ],
    isError: true,
  };
}
