import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { Config } from "../../core/config.js";
import { type Opts, action, parseCount } from "../args.js";
import { withClient } from "../client.js";
import type { ClientFlags } from "../home.js";
import { keyValues, print, printJson } from "../output.js";

/** What `server status` reports. */
export interface ServerStatus {
  running: boolean;
  pid: number | null;
  /** `server` for `sessiond serve`, `embedded` for a program using the embedded API that owns the data dir. */
  owner: "server" | "embedded" | null;
  /** The store it serves: `sqlite`, or `postgres` for a node of a cluster. */
  store: "sqlite" | "postgres" | null;
  /** Its name as a node of a cluster; null on SQLite. */
  node: string | null;
  host: string | null;
  port: number | null;
  socket: string;
  /** The background server's log file; null when there is none (a foreground `sessiond serve` logs to its terminal). */
  log: string | null;
  started_at: string | null;
  /** Stale files found and removed (a dead server's pid file or socket). */
  cleaned: string[];
}

async function load(flags: ClientFlags) {
  const [autostart, { dataPaths }] = await Promise.all([import("../autostart.js"), import("../../core/config.js")]);
  const config = autostart.clientConfig(flags);
  return { autostart, config, paths: dataPaths(config) };
}

/** The server of this data dir: running or not, where, since when; stale files cleaned. */
export async function serverStatus(flags: ClientFlags): Promise<ServerStatus> {
  const { autostart, config, paths } = await load(flags);
  const cleaned = await autostart.cleanStale(config);
  const pid = autostart.readPidFile(paths.pid);
  const running = await autostart.socketAnswers(paths.socket);
  return {
    running,
    pid: pid?.pid ?? null,
    owner: pid ? (pid.owner ?? "server") : null,
    store: pid?.store ?? null,
    node: pid?.node ?? null,
    host: pid?.host ?? null,
    port: pid?.port ?? null,
    socket: paths.socket,
    log: existsSync(paths.log) ? paths.log : null,
    started_at: pid?.started_at ?? null,
    cleaned,
  };
}

/**
 * After a restart, says on stderr what became of the live sessions the server holds. A restart
 * ends their processes: those it did not bring back (config autoRecover) are crashed. And a
 * restart takes this command's settings, so `ENABLE_SESSIONS=true` given to an earlier start (the
 * README's first way) is gone unless it is in the data dir's .env: then those not ended cannot run.
 */
async function reportLiveSessions(flags: ClientFlags, config: Config): Promise<void> {
  const { EXEC_KINDS, isModeEnabled } = await import("../../core/modes.js");
  const stats = await withClient(flags, (c) => c.sessions.stats({ status: [...NOT_ENDED], kind: [...EXEC_KINDS] }));
  const off = EXEC_KINDS.filter((kind) => !isModeEnabled(config, kind));
  const held = off.reduce((n, kind) => n + (stats.by_kind[kind] ?? 0), 0);
  if (held > 0) {
    const env = join(config.home, ".env");
    process.stderr.write(
      `sessiond: warning: live sessions (${off.join(", ")}) are off on this server, which holds ${held} of them not ended: they cannot run. ` +
        `A restart takes this command's settings (ENABLE_SESSIONS given to an earlier one is gone); for good, put ENABLE_SESSIONS=true in ${env} and run \`sessiond server restart\`\n`,
    );
    return;
  }
  const crashed = stats.by_status.crashed ?? 0;
  if (crashed > 0) {
    process.stderr.write(
      `sessiond: ${crashed} live session${crashed === 1 ? " is" : "s are"} crashed (a restart ends their processes): \`sessiond recover <session>\` starts a fresh one in its last cwd and environment; config autoRecover does it at every start\n`,
    );
  }
}

/** Statuses of a session that has not ended. */
const NOT_ENDED = ["active", "paused", "crashed"] as const;

/**
 * Stops the server of this data dir: SIGTERM, then waits for it to finish its in-flight requests
 * and flush (up to `shutdownTimeoutMs` plus `autostartTimeoutMs` of slack); `force` sends SIGKILL
 * after that wait. @returns the pid stopped, or null when none was running
 */
export async function stopServer(flags: ClientFlags, force = false): Promise<number | null> {
  const { autostart, config, paths } = await load(flags);
  await autostart.cleanStale(config);
  const pid = autostart.readPidFile(paths.pid);
  if (!pid) {
    if (await autostart.socketAnswers(paths.socket)) throw new Error(`a server answers on ${paths.socket} but ${paths.pid} is missing; stop it with its own signal`);
    return null;
  }
  if (pid.owner === "embedded") {
    throw new Error(`${paths.pid} names pid ${pid.pid} (${pid.command ?? "a program"}), a program using the embedded API that owns this data dir, not a server: stop that program`);
  }
  process.kill(pid.pid, "SIGTERM");
  const deadline = Date.now() + config.shutdownTimeoutMs + config.autostartTimeoutMs;
  // A zombie (killed, not yet reaped by its parent) has stopped: it holds nothing.
  while (autostart.ownerAlive(pid)) {
    if (Date.now() > deadline) {
      if (!force) throw new Error(`server ${pid.pid} did not stop in time; see ${paths.log}, or run \`sessiond server stop --force\``);
      process.kill(pid.pid, "SIGKILL");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, config.followPollMs / 10));
  }
  await autostart.cleanStale(config);
  return pid.pid;
}

/** Registers `server start|status|stop|restart|logs`. */
export function registerServerCommands(program: Command): void {
  const server = program.command("server").description("the background server of this data dir (client commands start it on demand)");
  const common = (c: Command) =>
    c
      .option("--json", "print JSON")
      .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
      .option("--config <file>", "a JSON config file for a server this starts (env SESSIOND_CONFIG)");

  common(server.command("status"))
    .description("whether the server runs, its pid, address, socket and log; exits 1 when it does not run")
    .action(
      action(async (o: Opts) => {
        const status = await serverStatus(o);
        if (o.json) printJson(status);
        else {
          print(status.running ? "running\n" : "not running\n");
          print(keyValues(Object.entries(status).filter(([k, v]) => k !== "running" && k !== "cleaned" && !(k === "log" && v === null))));
          for (const path of status.cleaned) print(`removed stale ${path}\n`);
        }
        if (!status.running) process.exitCode = 1;
      }),
    );

  common(server.command("start"))
    .description("start the server in the background if none is running (`sessiond serve` runs it in the foreground)")
    .action(
      action(async (o: Opts) => {
        const { autostart, config } = await load(o);
        await autostart.ensureServer(config);
        const status = await serverStatus(o);
        if (o.json) printJson(status);
        else print(`running: pid ${status.pid}, ${status.socket}\n`);
      }),
    );

  common(server.command("stop"))
    .description("stop the server: it finishes in-flight requests and flushes every write")
    .option("--force", "SIGKILL it if it has not stopped in time")
    .action(
      action(async (o: Opts) => {
        const pid = await stopServer(o, o.force === true);
        if (o.json) printJson({ stopped: pid });
        else print(pid === null ? "not running\n" : `stopped ${pid}\n`);
      }),
    );

  common(server.command("restart"))
    .description("stop the server (if running) and start it again in the background")
    .action(
      action(async (o: Opts) => {
        await stopServer(o);
        const { autostart, config } = await load(o);
        await autostart.ensureServer(config);
        const status = await serverStatus(o);
        if (o.json) printJson(status);
        else print(`running: pid ${status.pid}, ${status.socket}\n`);
        await reportLiveSessions(o, config);
      }),
    );

  server
    .command("logs")
    .description("print the server's log (pino JSON lines) from the data dir")
    .option("--home <dir>", "the data dir (env SESSIOND_HOME)")
    .option("--config <file>", "a JSON config file (env SESSIOND_CONFIG)")
    .option("-n, --lines <n>", "only the last n lines")
    .option("-f, --follow", "keep printing what the server writes (Ctrl-C to stop)")
    .action(
      action(async (o: Opts) => {
        const { config, paths } = await load(o);
        const { printLog } = await import("../tail.js");
        await printLog(paths.log, { ...(o.lines !== undefined ? { lines: parseCount(String(o.lines), "--lines") } : {}), follow: o.follow === true, pollMs: config.followPollMs });
      }),
    );
}
