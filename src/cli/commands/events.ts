import type { Command } from "commander";
import type { SessionEvent } from "../../sdk/client/index.js";
import type { CliClient } from "../client.js";
import { type Opts, action, clientOptions, collectList, parseCount, parseJson, parseObject } from "../args.js";
import { withClient } from "../client.js";
import { isSessiondError } from "../../core/errors.js";
import { sseOverSocket } from "../sse.js";
import type { ClientFlags } from "../home.js";
import { display, keyValues, paint, print as printText, printJson, shortTime, visible } from "../output.js";

/** Events fetched per request while reading or following a timeline. */
const PAGE = 1000;

/** One event as a timeline line: `#seq  time  type  summary`. */
export function timelineLine(event: SessionEvent): string {
  return `${paint("dim", `#${String(event.seq).padEnd(5)}`)} ${shortTime(event.ts)}  ${paint(typeStyle(event.type), visible(event.type).padEnd(14))} ${visible(summary(event))}`;
}

function typeStyle(type: string) {
  if (type === "error" || type === "crash" || type === "timeout") return "red" as const;
  if (type === "checkpoint" || type === "restore") return "cyan" as const;
  if (type === "exec") return "blue" as const;
  return "bold" as const;
}

/** The interesting part of an event's data, on one line. */
export function summary(event: SessionEvent): string {
  const d = event.data as Record<string, unknown>;
  switch (event.type) {
    case "exec":
      return `${JSON.stringify(d.input)} → ${d.status}${d.exit_code !== null && d.exit_code !== undefined ? ` (exit ${d.exit_code})` : ""}${typeof d.duration_ms === "number" ? ` ${d.duration_ms} ms` : ""}`;
    case "checkpoint":
      return `${d.checkpoint_id}${d.label ? ` "${d.label}"` : ""}`;
    case "restore":
      return `to ${d.checkpoint_id ?? display(d)}`;
    case "tool_call":
      return `${d.tool}${d.args !== undefined ? ` ${JSON.stringify(d.args)}` : ""}`;
    default: {
      const text = JSON.stringify(d);
      return text === "{}" ? "" : text.length > 160 ? `${text.slice(0, 159)}…` : text;
    }
  }
}

/**
 * An exec event as its input and output, the way `logs` prints it: the input on one line, the
 * output as lines of text (printed through `print`, which writes out its control characters:
 * a log, unlike `exec`, is no terminal of the session's).
 */
export function execLog(event: SessionEvent): string {
  const d = event.data as Record<string, unknown>;
  const out = [`${paint("bold", `$ ${visible(String(d.input))}`)}  ${paint("dim", `#${event.seq} ${shortTime(String(d.started_at ?? event.ts))} ${d.status}${d.exit_code !== null && d.exit_code !== undefined ? ` exit ${d.exit_code}` : ""}`)}`];
  for (const stream of ["stdout", "stderr"] as const) {
    const text = d[stream];
    if (typeof text === "string" && text.length) out.push(text.replace(/\n$/, ""));
  }
  return `${out.join("\n")}\n`;
}

interface ReadOptions {
  after: number;
  to?: number;
  types?: string[];
  limit?: number;
  follow: boolean;
  json: boolean;
  print: (event: SessionEvent) => void;
}

/**
 * Prints a session's events from `after`, page by page; with `follow`, then prints new events as
 * they come: from the session's event stream (`GET /sessions/{id}/stream?output=0`, SSE on the
 * socket), or, on a server without it, by asking for the events after the last one printed every
 * `followPollMs`. Following ends with Ctrl-C, when the session is deleted, or past `to`/`limit`.
 * When the server goes away (stopped, restarted, or a program that owned the data dir ended), it
 * waits for the next one to answer on the socket — it starts none — and goes on from the last
 * event printed, so nothing written meanwhile is missed.
 */
async function readEvents(client: CliClient, ref: string, o: ReadOptions, pollMs: number): Promise<void> {
  let after = o.after;
  let printed = 0;
  const done = () => (o.limit !== undefined && printed >= o.limit) || (o.to !== undefined && after >= o.to);
  const print = (event: SessionEvent) => {
    o.print(event);
    after = event.seq;
    printed++;
  };
  const catchUp = async () => {
    for (;;) {
      const page = await client.sessions.listEvents(ref, {
        after_seq: after,
        ...(o.to !== undefined ? { to_seq: o.to } : {}),
        ...(o.types?.length ? { types: o.types } : {}),
        limit: o.limit === undefined ? PAGE : Math.min(PAGE, o.limit - printed),
      });
      for (const event of page.items) print(event);
      if (done() || !(page.items.length > 0 && (page.next_cursor || page.items.length === PAGE))) return;
    }
  };
  await catchUp();
  if (!o.follow || done()) return;
  for (;;) {
    let outcome: "over" | "lost" | "no_stream";
    try {
      outcome = await streamEvents(client, ref, o, () => after, print, done);
    } catch (err) {
      if (isSessiondError(err) && err.code !== "server_unreachable") throw err;
      outcome = "lost";
    }
    if (outcome === "over") return;
    if (outcome === "no_stream") break;
    await client.waitForServer(pollMs);
    await catchUp();
    if (done()) return;
  }
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    const page = await client.sessions.listEvents(ref, { after_seq: after, ...(o.types?.length ? { types: o.types } : {}), limit: PAGE });
    for (const event of page.items) {
      if (o.to !== undefined && event.seq > o.to) return;
      print(event);
      if (done()) return;
    }
  }
}

/**
 * Prints the session's events from its stream: "over" when following is over (the stream's end,
 * or `to`/`limit` reached), "lost" when it can be taken up again (the server went away or shut
 * down, or cut this reader off), "no_stream" on a server without the stream route (404 for a
 * session just read).
 */
async function streamEvents(
  client: CliClient,
  ref: string,
  o: ReadOptions,
  after: () => number,
  print: (event: SessionEvent) => void,
  done: () => boolean,
): Promise<"over" | "lost" | "no_stream"> {
  const query = new URLSearchParams({ after_seq: String(after()), output: "0", ...(o.types?.length ? { types: o.types.join(",") } : {}) });
  try {
    for await (const message of sseOverSocket(client.socketPath, `/sessions/${encodeURIComponent(ref)}/stream?${query}`)) {
      // A server shutting down ends its streams, and a cutoff (this reader fell behind) can be
      // resumed: both go on from the last event printed; any other end (the session deleted) is final.
      if (message.event === "cutoff") return "lost";
      if (message.event === "end") return (JSON.parse(message.data) as { reason?: string }).reason === "shutting_down" ? "lost" : "over";
      if (message.event !== "event") continue;
      const m = JSON.parse(message.data) as { seq: number; ts: string; event_type: string; data: SessionEvent["data"] };
      if (m.seq <= after()) continue;
      if (o.to !== undefined && m.seq > o.to) return "over";
      print({ seq: m.seq, ts: m.ts, type: m.event_type, data: m.data });
      if (done()) return "over";
    }
  } catch (err) {
    if (isSessiondError(err, "not_found")) return "no_stream";
    throw err;
  }
  return "lost";
}

async function followPollMs(flags: ClientFlags): Promise<number> {
  const { clientConfig } = await import("../autostart.js");
  return clientConfig(flags).followPollMs;
}

function readCommand(program: Command, name: string, description: string): Command {
  return clientOptions(program.command(name).argument("<session>", "id, name or agent_id/name"))
    .description(description)
    .option("--after <seq>", "only events after this seq")
    .option("--to <seq>", "only events up to this seq")
    .option("--limit <n>", "at most this many")
    .option("-f, --follow", "keep printing new events as they come (Ctrl-C to stop)");
}

function readOptions(o: Record<string, unknown>, print: (e: SessionEvent) => void, types?: string[]): ReadOptions {
  return {
    after: o.after === undefined ? 0 : parseCount(String(o.after), "--after"),
    ...(o.to !== undefined ? { to: parseCount(String(o.to), "--to") } : {}),
    ...(o.limit !== undefined ? { limit: parseCount(String(o.limit), "--limit", 1) } : {}),
    ...(types ? { types } : {}),
    follow: o.follow === true,
    json: o.json === true,
    print,
  };
}

/** Registers events, trace, logs, emit, tool-call, state and metrics. */
export function registerEventCommands(program: Command): void {
  readCommand(program, "events", "a session's events, oldest first (--json: one JSON object per line)")
    .option("--type <type>", "only events of this type (repeatable or comma-separated)", collectList)
    .action(
      action(async (ref: string, o: Opts) => {
        const print = o.json ? (e: SessionEvent) => process.stdout.write(`${JSON.stringify(e)}\n`) : (e: SessionEvent) => printText(`${timelineLine(e)}\n`);
        const opts = readOptions(o, print, o.type as string[] | undefined);
        const poll = opts.follow ? await followPollMs(o) : 0;
        await withClient(o, (c) => readEvents(c, ref, opts, poll));
      }),
    );

  readCommand(program, "trace", "a session's timeline: its events with status and checkpoints (seed 001's :session trace)").action(
    action(async (ref: string, o: Opts) => {
      const print = o.json ? (e: SessionEvent) => process.stdout.write(`${JSON.stringify(e)}\n`) : (e: SessionEvent) => printText(`${timelineLine(e)}\n`);
      const opts = readOptions(o, print);
      const poll = opts.follow ? await followPollMs(o) : 0;
      await withClient(o, async (c) => {
        if (!o.json) {
          const s = await c.sessions.getSession(ref);
          printText(`${paint("bold", visible(s.name))} ${s.id}  ${s.kind}  ${s.status}  iterations ${s.iterations}  events ${s.last_seq}\n`);
        }
        await readEvents(c, ref, opts, poll);
      });
    }),
  );

  readCommand(program, "logs", "a live session's execs: input, output and exit status").action(
    action(async (ref: string, o: Opts) => {
      const print = o.json ? (e: SessionEvent) => process.stdout.write(`${JSON.stringify({ seq: e.seq, ...e.data })}\n`) : (e: SessionEvent) => printText(execLog(e));
      const opts = readOptions(o, print, ["exec"]);
      const poll = opts.follow ? await followPollMs(o) : 0;
      await withClient(o, (c) => readEvents(c, ref, opts, poll));
    }),
  );

  clientOptions(program.command("emit").argument("<session>", "id, name or agent_id/name").argument("<type>", "the event type (custom types welcome)").argument("[data]", "a JSON object"))
    .description("append an event to a session")
    .action(
      action(async (ref: string, type: string, data: string | undefined, o: Opts) => {
        const event = await withClient(o, (c) => c.sessions.appendEvent(ref, type, data === undefined ? {} : parseObject(data, "data")));
        if (o.json) printJson(event);
        else printText(`${timelineLine(event)}\n`);
      }),
    );

  clientOptions(program.command("tool-call").argument("<session>", "id, name or agent_id/name").argument("<tool>", "the tool's name"))
    .description("record a tool call (seed 004's recordToolCall)")
    .option("--args <json>", "its arguments (JSON)")
    .option("--result <json>", "its result (JSON)")
    .action(
      action(async (ref: string, tool: string, o: Opts) => {
        const args = o.args === undefined ? undefined : parseJson(String(o.args), "--args");
        const result = o.result === undefined ? undefined : parseJson(String(o.result), "--result");
        const event = await withClient(o, (c) => c.sessions.recordToolCall(ref, tool, args, result));
        if (o.json) printJson(event);
        else printText(`${timelineLine(event)}\n`);
      }),
    );

  clientOptions(program.command("state").argument("<session>", "id, name or agent_id/name"))
    .description("the session's context, status and iterations right after an event (time travel)")
    .option("--seq <n>", "the event (default: the newest)")
    .action(
      action(async (ref: string, o: Opts) => {
        const state = await withClient(o, (c) => c.sessions.stateAt(ref, o.seq === undefined ? undefined : parseCount(String(o.seq), "--seq")));
        if (o.json) printJson(state);
        else printText(keyValues(Object.entries(state)));
      }),
    );

  clientOptions(program.command("metrics").argument("<session>", "id, name or agent_id/name"))
    .description("a session's duration, idle time and counts of events by type")
    .action(
      action(async (ref: string, o: Opts) => {
        const metrics = await withClient(o, (c) => c.sessions.metrics(ref));
        if (o.json) printJson(metrics);
        else printText(keyValues(Object.entries(metrics)));
      }),
    );
}
