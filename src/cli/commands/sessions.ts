import type { Command } from "commander";
import { SESSION_SORT_KEYS } from "../../core/session.js";
import type { NewSession, Session, SessionFilter, SessionPageRequest, SessionPatch } from "../../sdk/client/index.js";
import { type Opts, action, clientOptions, collectList, collectPair, parseAgeDays, parseCount, parseObject } from "../args.js";
import { withClient } from "../client.js";
import { UsageError } from "../fail.js";
import { keyValues, paint, print, printJson, shortTime, statusStyle, table, visible } from "../output.js";

/** Flags shared by `start` and `update`: the settable session fields. */
function fieldOptions(command: Command): Command {
  return command
    .option("--name <name>", "a unique, human-readable name")
    .option("--type <type>", "free category: conversation, development, task, batch…")
    .option("--mode <mode>", "free: the agent's role (a live session's mode is its kind)")
    .option("--agent <id>", "agent_id")
    .option("--user <id>", "user_id")
    .option("--channel <id>", "channel_id")
    .option("--label <key=value>", "a label (repeatable)", collectPair)
    .option("--task <text>", "what the session is for")
    .option("--workspace <path>", "the workspace recorded on the session")
    .option("--max-iterations <n>", "reaching it moves the session to timeout")
    .option("--context <json>", "the context (a JSON object)")
    .option("--metadata <json>", "metadata: model, tokens, cost… (a JSON object)")
    .option("--runtime-backend <backend>", "local, kubernetes or unknown")
    .option("--server <server>", "where a live session runs: local or ssh");
}

type FieldFlags = {
  name?: string;
  type?: string;
  mode?: string;
  agent?: string;
  user?: string;
  channel?: string;
  label?: Record<string, string>;
  task?: string;
  workspace?: string;
  maxIterations?: string;
  context?: string;
  metadata?: string;
  runtimeBackend?: string;
  server?: string;
};

function fields(o: FieldFlags): SessionPatch {
  const out: Record<string, unknown> = {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) out[key] = value;
  };
  set("name", o.name);
  set("type", o.type);
  set("mode", o.mode);
  set("agent_id", o.agent);
  set("user_id", o.user);
  set("channel_id", o.channel);
  set("labels", o.label);
  set("task", o.task);
  set("workspace", o.workspace);
  set("max_iterations", o.maxIterations === undefined ? undefined : parseCount(o.maxIterations, "--max-iterations"));
  set("context", o.context === undefined ? undefined : parseObject(o.context, "--context"));
  set("metadata", o.metadata === undefined ? undefined : parseObject(o.metadata, "--metadata"));
  set("runtime_backend", o.runtimeBackend);
  set("server", o.server);
  return out as SessionPatch;
}

/** The session list's filters as flags (also used by `stats`). */
export function filterOptions(command: Command): Command {
  return command
    .option("--agent <id>", "agent_id")
    .option("--user <id>", "user_id")
    .option("--channel <id>", "channel_id")
    .option("--status <status>", "active, paused, completed, failed, timeout, crashed (repeatable or comma-separated)", collectList)
    .option("--kind <kind>", "agent, shell, python, typescript, llm (repeatable or comma-separated)", collectList)
    .option("--type <type>", "the session type")
    .option("--mode <mode>", "the mode")
    .option("--label <key=value>", "a label every session must have (repeatable)", collectPair)
    .option("--created-after <iso>", "created at or after this time")
    .option("--created-before <iso>", "created before this time")
    .option("--search <text>", "sessions whose name or the first 1,024 characters of whose task contain this text (ASCII letters in either case)");
}

type FilterFlags = Pick<FieldFlags, "agent" | "user" | "channel" | "type" | "mode" | "label"> & {
  status?: string[];
  kind?: string[];
  createdAfter?: string;
  createdBefore?: string;
  search?: string;
};

/** The SessionFilter the filter flags describe. */
export function filterOf(o: FilterFlags): SessionFilter {
  const f: Record<string, unknown> = {};
  if (o.agent !== undefined) f.agent_id = o.agent;
  if (o.user !== undefined) f.user_id = o.user;
  if (o.channel !== undefined) f.channel_id = o.channel;
  if (o.status?.length) f.status = o.status;
  if (o.kind?.length) f.kind = o.kind;
  if (o.type !== undefined) f.type = o.type;
  if (o.mode !== undefined) f.mode = o.mode;
  if (o.label) f.labels = o.label;
  if (o.createdAfter !== undefined) f.created_after = o.createdAfter;
  if (o.createdBefore !== undefined) f.created_before = o.createdBefore;
  if (o.search !== undefined) f.q = o.search;
  return f as SessionFilter;
}

/**
 * The `sessiond list` that goes on after a page: every filter, the page size and the order given
 * (a cursor continues only the listing it came from), then the cursor; values quoted for a shell.
 */
export function nextPageCommand(flags: FilterFlags & { sort?: string; order?: string; limit?: string }, cursor: string): string {
  const words = ["sessiond", "list"];
  const add = (flag: string, value: string | undefined) => {
    if (value !== undefined) words.push(flag, shellWord(value));
  };
  add("--agent", flags.agent);
  add("--user", flags.user);
  add("--channel", flags.channel);
  for (const status of flags.status ?? []) add("--status", status);
  for (const kind of flags.kind ?? []) add("--kind", kind);
  add("--type", flags.type);
  add("--mode", flags.mode);
  for (const [key, value] of Object.entries(flags.label ?? {})) add("--label", `${key}=${value}`);
  add("--created-after", flags.createdAfter);
  add("--created-before", flags.createdBefore);
  add("--search", flags.search);
  add("--sort", flags.sort);
  add("--order", flags.order);
  add("--limit", flags.limit);
  add("--cursor", cursor);
  return words.join(" ");
}

/** `value` as one word for a POSIX shell: bare when it is plainly safe, else in single quotes. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

/** The table `list` prints. */
export function sessionTable(sessions: readonly Session[]): string {
  return table(sessions, [
    { header: "ID", value: (s) => s.id },
    { header: "NAME", value: (s) => s.name, max: 32 },
    { header: "KIND", value: (s) => s.kind },
    { header: "STATUS", value: (s) => s.status, style: (s) => statusStyle(s.status) },
    { header: "ITER", value: (s) => (s.max_iterations === null ? String(s.iterations) : `${s.iterations}/${s.max_iterations}`) },
    { header: "CREATED", value: (s) => shortTime(s.created_at) },
    { header: "TASK", value: (s) => s.task ?? "", max: 48 },
  ]);
}

/** A session for people: its fields as aligned `key: value` lines. */
export function sessionDetails(s: Session): string {
  return keyValues(Object.entries(s).filter(([, v]) => !(v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0)));
}

/**
 * A live session's mode options from `start`'s flags (docs/exec-sessions.md, "Start options").
 * @throws UsageError for an --api-key-env variable that is unset or empty, or with --keyless
 */
function modeOptions(flags: { interpreter?: string; model?: string; baseUrl?: string; apiKeyEnv?: string; keyless?: boolean; typecheck?: boolean }): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  if (flags.interpreter !== undefined) out.interpreter = flags.interpreter;
  if (flags.typecheck !== undefined) out.typecheck = flags.typecheck;
  if (flags.model !== undefined) out.model = flags.model;
  if (flags.baseUrl !== undefined) out.base_url = flags.baseUrl;
  if (flags.apiKeyEnv !== undefined && flags.keyless) throw new UsageError("give --api-key-env or --keyless, not both");
  if (flags.apiKeyEnv !== undefined) {
    const key = process.env[flags.apiKeyEnv];
    if (!key) throw new UsageError(`--api-key-env ${flags.apiKeyEnv}: that environment variable is not set (or empty)`);
    out.api_key = key;
  }
  if (flags.keyless) out.api_key = "";
  return out;
}

/** Registers start, list, show, update, delete, stats and cleanup. */
export function registerSessionCommands(program: Command): void {
  fieldOptions(clientOptions(program.command("start")))
    .description("start a session: a record of an agent run (default) or a live shell/python/typescript/llm session")
    .option("--kind <kind>", "agent (default), shell, python, typescript or llm")
    .option("--id <id>", "keep this id instead of generating one")
    .option("--checkpoint <json>", "recorded as the first checkpoint (a JSON object)")
    .option("--cwd <dir>", "live sessions: the working directory (default: the session's workspace)")
    .option("--env <key=value>", "live sessions: an environment variable (repeatable)", collectPair)
    .option("--cols <n>", "live sessions: terminal columns")
    .option("--rows <n>", "live sessions: terminal rows")
    .option("--interpreter <path>", "python sessions: the python3 to run (an absolute path; default: config pythonPath)")
    .option("--model <model>", "llm sessions: the model (default: config llmModel)")
    .option("--base-url <url>", "llm sessions: the OpenAI-compatible endpoint, http(s)://…/v1 (default: config llmBaseUrl)")
    .option("--api-key-env <name>", "llm sessions: read the endpoint's key from this environment variable (the server keeps it in memory only; a key in argv would show in ps)")
    .option("--keyless", "llm sessions: the endpoint takes no key (one on loopback needs none anyway)")
    .option("--typecheck", "typescript sessions: type-check each cell before it runs; a type error is the cell's error (default: config typescriptTypecheck)")
    .option("--no-typecheck", "typescript sessions: run cells without type-checking them (over config typescriptTypecheck)")
    .option("--undo-files", "python and typescript sessions: `sessiond undo` also puts the workspace's files back as they were before the exec")
    .action(
      action(async (o: Opts) => {
        const flags = o as FieldFlags & {
          kind?: string;
          id?: string;
          checkpoint?: string;
          cwd?: string;
          env?: Record<string, string>;
          cols?: string;
          rows?: string;
          interpreter?: string;
          model?: string;
          baseUrl?: string;
          apiKeyEnv?: string;
          keyless?: boolean;
          typecheck?: boolean;
          undoFiles?: boolean;
        };
        const input: Record<string, unknown> = { ...fields(flags) };
        if (flags.kind !== undefined) input.kind = flags.kind;
        if (flags.id !== undefined) input.id = flags.id;
        if (flags.checkpoint !== undefined) input.checkpoint = parseObject(flags.checkpoint, "--checkpoint");
        if (flags.cwd !== undefined) input.cwd = flags.cwd;
        if (flags.env !== undefined) input.env = flags.env;
        if (flags.cols !== undefined) input.cols = parseCount(flags.cols, "--cols", 1);
        if (flags.rows !== undefined) input.rows = parseCount(flags.rows, "--rows", 1);
        if (flags.undoFiles) input.undo_files = true;
        Object.assign(input, modeOptions(flags));
        const session = await withClient(o, (c) => c.sessions.createSession(input as NewSession));
        if (o.json) printJson(session);
        else print(`${session.id}  ${paint("bold", visible(session.name))}  ${session.kind}  ${paint(statusStyle(session.status), session.status)}\n`);
      }),
    );

  filterOptions(clientOptions(program.command("list").alias("ls")))
    .description("list sessions, newest first unless --sort and --order say otherwise (a table; --json for scripts)")
    .option("--sort <key>", `order by ${SESSION_SORT_KEYS.join(", ")} (default created_at; ties by created_at, then id)`)
    .option("--order <order>", "desc (default) or asc")
    .option("--limit <n>", "how many (default: the server's page size)")
    .option("--cursor <cursor>", "continue after a previous page, with the same --sort and --order (--json prints next_cursor)")
    .option("--all", "every matching session, following the pages")
    .action(
      action(async (o: Opts) => {
        const flags = o as FilterFlags & { sort?: string; order?: string; limit?: string; cursor?: string; all?: boolean };
        const filter = filterOf(flags);
        const limit = flags.limit === undefined ? undefined : parseCount(flags.limit, "--limit", 1);
        // The server checks the values (a usage error naming sort or order, with the valid ones).
        const order = { ...(flags.sort !== undefined ? { sort: flags.sort } : {}), ...(flags.order !== undefined ? { order: flags.order } : {}) } as Pick<SessionPageRequest, "sort" | "order">;
        const page = await withClient(o, async (c) => {
          if (!flags.all) return c.sessions.listSessions(filter, { ...order, ...(limit ? { limit } : {}), ...(flags.cursor ? { cursor: flags.cursor } : {}) });
          const items: Session[] = [];
          for await (const s of c.sessions.iterateSessions(filter, order)) items.push(s);
          return { items, next_cursor: null };
        });
        if (o.json) printJson(page);
        else {
          // A search's page may be short, even empty, and still have a next one (docs/api.md#listing-sessions).
          print(page.items.length === 0 ? (page.next_cursor ? "no sessions on this page\n" : "no sessions\n") : sessionTable(page.items));
          if (page.next_cursor) print(paint("dim", `more: ${nextPageCommand(flags, page.next_cursor)}\n`));
        }
      }),
    );

  clientOptions(program.command("show").argument("<session>", "id, name or agent_id/name"))
    .description("show one session")
    .action(
      action(async (ref: string, o: Opts) => {
        const session = await withClient(o, (c) => c.sessions.getSession(ref));
        if (o.json) printJson(session);
        else print(sessionDetails(session));
      }),
    );

  fieldOptions(clientOptions(program.command("update").argument("<session>", "id, name or agent_id/name")))
    .description("change a session's fields (rename, task, labels, max iterations…)")
    .option("--if-version <n>", "only if the session is at this version")
    .action(
      action(async (ref: string, o: Opts) => {
        const patch = fields(o as FieldFlags);
        if (Object.keys(patch).length === 0) throw new UsageError("nothing to change: give at least one field flag, e.g. --task 'new task'");
        const ifVersion = o.ifVersion === undefined ? undefined : parseCount(String(o.ifVersion), "--if-version");
        const session = await withClient(o, (c) => c.sessions.updateSession(ref, patch, ifVersion === undefined ? {} : { ifMatch: ifVersion }));
        if (o.json) printJson(session);
        else print(sessionDetails(session));
      }),
    );

  clientOptions(program.command("delete").alias("rm").argument("<session...>", "ids or names"))
    .description("delete sessions with their events, checkpoints and workspace")
    .action(
      action(async (refs: string[], o: Opts) => {
        await withClient(o, async (c) => {
          for (const ref of refs) await c.sessions.deleteSession(ref);
        });
        if (o.json) printJson({ deleted: refs });
        else print(`deleted ${refs.join(", ")}\n`);
      }),
    );

  filterOptions(clientOptions(program.command("stats")))
    .description("counts by status, kind and mode; success rate; average iterations")
    .action(
      action(async (o: Opts) => {
        const stats = await withClient(o, (c) => c.sessions.stats(filterOf(o as FilterFlags)));
        if (o.json) printJson(stats);
        else print(keyValues(Object.entries(stats)));
      }),
    );

  clientOptions(program.command("cleanup"))
    .description("delete sessions that ended longer ago than --older-than (e.g. 30d, 12h), with their workspaces")
    .requiredOption("--older-than <age>", "an age: 30d, 12h, 90m, 2w (a bare number is days)")
    .option("--dry-run", "delete nothing: list the sessions it would delete")
    .action(
      action(async (o: Opts) => {
        const days = parseAgeDays(String(o.olderThan));
        if (o.dryRun) {
          const preview = await withClient(o, (c) => c.sessions.cleanupPreview(days));
          if (o.json) return printJson(preview);
          const rows = preview.would_delete.map((s) => `${s.name}  ${s.status}  ended ${s.ended_at ?? "?"}\n`).join("");
          const count = `${preview.would_delete.length}${preview.more ? "+" : ""}`;
          return print(`${rows}would delete ${count} session${count === "1" ? "" : "s"} (nothing deleted: --dry-run)\n`);
        }
        const result = await withClient(o, (c) => c.sessions.cleanup(days));
        if (o.json) printJson(result);
        else print(`deleted ${result.deleted} session${result.deleted === 1 ? "" : "s"}\n`);
      }),
    );
}
